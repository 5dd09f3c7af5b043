/* tapegrad tests: accuracy of the SLEEF-backed ops against libm.
 *
 * f32: every result is compared with the correctly rounded float of the
 * double-precision libm value, and the distance is counted in units in the
 * last place through the integer representation of the floats.
 * f64: every result is compared with the long double libm value; the test
 * asserts a relative error bound and reports the error in double ULPs.
 *
 * Each function runs over 100003 points twice: once as one long tensor
 * (the SIMD body plus a 3-element tail) and once in chunks of lengths 1 to
 * 33 (mostly the scalar tail). The figures go to stdout.
 *
 * The library picks its vector path (AVX-512, AVX2 or scalar) once per
 * process; tests/meson.build runs this program once per path through
 * TAPEGRAD_VMATH, and the first test checks that the path taken is the one
 * expected. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "tapegrad.h"

#define N_POINTS 100003 /* not a multiple of 8 or 16 */

/* Chunk lengths of the second pass: 31 and 33 put a 16-wide body before
 * the longest and the shortest tail. */
static const int64_t CHUNKS[] = {1, 3, 5, 7, 9, 15, 17, 23, 2, 11, 31, 33};
#define N_CHUNKS ((int)(sizeof CHUNKS / sizeof CHUNKS[0]))

#define ASSERT_OK(tp, t)                                                       \
  ck_assert_msg((t) != NULL && tg_error(tp) == TG_OK, "%s failed: %s", #t,     \
                tg_errmsg(tp))

/* --- which path ----------------------------------------------------------- */

/* Internal (src/kernels/kernels.h), but exported by the library: the path
 * the vector maths takes, "avx512", "avx2" or "scalar". */
const char *tg_k_vmath_isa(void);

/* The path the library should take here: the best the processor has,
 * capped by TAPEGRAD_VMATH as src/kernels/vmath.c documents. */
static const char *expected_path(void) {
  const char *cap = getenv("TAPEGRAD_VMATH");
  int max = 2;
  if (cap && strcmp(cap, "avx2") == 0) max = 1;
  if (cap && strcmp(cap, "scalar") == 0) max = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (max >= 2 && __builtin_cpu_supports("avx512f")) return "avx512";
  if (max >= 1 && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma"))
    return "avx2";
#endif
  (void)max;
  return "scalar";
}

START_TEST(test_path_is_the_expected_one) {
  const char *cap = getenv("TAPEGRAD_VMATH");
  ck_assert_msg(strcmp(tg_k_vmath_isa(), expected_path()) == 0,
                "vector maths path %s, expected %s (TAPEGRAD_VMATH=%s)",
                tg_k_vmath_isa(), expected_path(), cap ? cap : "(unset)");
}
END_TEST

/* --- the functions under test --------------------------------------------- */

typedef tg_tensor *(*unary_fn)(tg_tape *, tg_tensor *);

static tg_tensor *pow25(tg_tape *tp, tg_tensor *x) {
  return tg_pow_scalar(tp, x, 2.5);
}

static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_pow25(double x) { return pow(x, 2.5); }
static long double ref_sigmoidl(long double x) {
  return 1.0L / (1.0L + expl(-x));
}
static long double ref_pow25l(long double x) { return powl(x, 2.5L); }

typedef struct {
  const char *name;
  unary_fn fn;
  double (*ref)(double);            /* f32 reference */
  long double (*refl)(long double); /* f64 reference */
  double lo, hi;
  bool log_uniform;
} vcase;

/* Input points: uniform, or log-uniform over [lo, hi]. */
static void make_points(tg_rng *rng, const vcase *c, double *x, int64_t n) {
  if (c->log_uniform) {
    tgt_fill_uniform(rng, x, n, log(c->lo), log(c->hi));
    for (int64_t i = 0; i < n; i++)
      x[i] = exp(x[i]);
  } else {
    tgt_fill_uniform(rng, x, n, c->lo, c->hi);
  }
}

/* --- f32: ULP distance -------------------------------------------------- */

/* Floats mapped to integers in the same order (-0 and +0 both 0). */
static int64_t ordered(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  int64_t mag = (int64_t)(u & 0x7fffffffu);
  return (u >> 31) ? -mag : mag;
}

/* ULPs between got and want; equal infinities and NaNs count as 0. */
static int64_t ulp_dist(float got, float want) {
  if (isnan(want) || isnan(got)) return isnan(want) && isnan(got) ? 0 : 1 << 30;
  if (isinf(want) || isinf(got)) return got == want ? 0 : 1 << 30;
  int64_t d = ordered(got) - ordered(want);
  return d < 0 ? -d : d;
}

typedef struct {
  int64_t max_ulp;
  double worst_x, worst_y; /* input(s) of the largest error */
  float worst_got, worst_want;
  int64_t count;
} ulp_stat;

static void ulp_note(ulp_stat *s, float got, float want, double x, double y) {
  int64_t d = ulp_dist(got, want);
  s->count++;
  if (d > s->max_ulp || s->count == 1) {
    s->max_ulp = d;
    s->worst_x = x;
    s->worst_y = y;
    s->worst_got = got;
    s->worst_want = want;
  }
}

/* fn over x[0..n) as one f32 tensor; results into y. */
static void run_f32(tg_tape *tp, unary_fn fn, const float *x, int64_t n,
                    float *y) {
  tg_tensor *t = tg_from_buffer(tp, TG_F32, 1, &n, x);
  tg_tensor *out = fn(tp, t);
  ASSERT_OK(tp, out);
  ck_assert_int_eq(out->numel, n);
  ck_assert_int_eq(out->dtype, TG_F32);
  ck_assert_int_eq(tg_copy_out(out, y), TG_OK);
}

/* Both passes of one f32 function; returns the largest ULP error and
 * prints the figures. */
static int64_t measure_f32(const vcase *c, uint64_t seed) {
  tg_tape *tp = tg_tape_new();
  ck_assert_ptr_nonnull(tp);
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  double *xd = malloc(sizeof(double) * N_POINTS);
  float *x = malloc(sizeof(float) * N_POINTS);
  float *y = malloc(sizeof(float) * N_POINTS);
  float *want = malloc(sizeof(float) * N_POINTS);
  ck_assert(xd && x && y && want);
  make_points(&rng, c, xd, N_POINTS);
  for (int64_t i = 0; i < N_POINTS; i++) {
    x[i] = (float)xd[i];
    want[i] = (float)c->ref((double)x[i]);
  }
  ulp_stat whole = {0}, chunked = {0};
  run_f32(tp, c->fn, x, N_POINTS, y);
  for (int64_t i = 0; i < N_POINTS; i++)
    ulp_note(&whole, y[i], want[i], x[i], 0);
  tg_tape_reset(tp);
  for (int64_t i = 0, k = 0; i < N_POINTS; k++) {
    int64_t n = CHUNKS[k % N_CHUNKS];
    if (n > N_POINTS - i) n = N_POINTS - i;
    run_f32(tp, c->fn, x + i, n, y + i);
    tg_tape_reset(tp);
    i += n;
  }
  for (int64_t i = 0; i < N_POINTS; i++)
    ulp_note(&chunked, y[i], want[i], x[i], 0);
  ck_assert_int_eq(whole.count, N_POINTS);
  ulp_stat *w = whole.max_ulp >= chunked.max_ulp ? &whole : &chunked;
  printf("vmath f32 %-12s max %lld ulp (long tensor %lld, chunks %lld) "
         "over %d points in [%g, %g]; worst x=%.9g got %.9g want %.9g\n",
         c->name, (long long)w->max_ulp, (long long)whole.max_ulp,
         (long long)chunked.max_ulp, N_POINTS, c->lo, c->hi, w->worst_x,
         (double)w->worst_got, (double)w->worst_want);
  fflush(stdout);
  free(xd);
  free(x);
  free(y);
  free(want);
  tg_tape_free(tp);
  return w->max_ulp;
}

static const vcase F32_EXP = {"exp", tg_exp, exp, expl, -80, 80, false};
static const vcase F32_LOG = {"log", tg_log, log, logl, 1e-30, 1e30, true};
static const vcase F32_TANH = {"tanh", tg_tanh, tanh, tanhl, -10, 10, false};
static const vcase F32_SIN = {"sin", tg_sin, sin, sinl, -100, 100, false};
static const vcase F32_COS = {"cos", tg_cos, cos, cosl, -100, 100, false};
static const vcase F32_SIGMOID = {
    "sigmoid", tg_sigmoid, ref_sigmoid, ref_sigmoidl, -80, 80, false};
static const vcase F32_POW25 = {
    "pow_scalar2.5", pow25, ref_pow25, ref_pow25l, 0.01, 100, true};

#define F32_TEST(NAME, CASE, SEED, BOUND)                                      \
  START_TEST(NAME) {                                                           \
    int64_t u = measure_f32(&(CASE), (SEED));                                  \
    ck_assert_msg(u <= (BOUND), "f32 %s: max error %lld ulp > %d",             \
                  (CASE).name, (long long)u, (BOUND));                         \
  }                                                                            \
  END_TEST

F32_TEST(test_f32_exp_within_1ulp, F32_EXP, 101, 1)
F32_TEST(test_f32_log_within_1ulp, F32_LOG, 102, 1)
F32_TEST(test_f32_sin_within_1ulp, F32_SIN, 103, 1)
F32_TEST(test_f32_cos_within_1ulp, F32_COS, 104, 1)
F32_TEST(test_f32_pow_scalar_within_1ulp, F32_POW25, 105, 1)
F32_TEST(test_f32_tanh_within_4ulp, F32_TANH, 106, 4)
F32_TEST(test_f32_sigmoid_within_4ulp, F32_SIGMOID, 107, 4)

/* Binary tg_pow in f32 in each layout the kernel distinguishes: equal
 * shapes (vector pow), a one-element exponent broadcast (vector pow with a
 * scalar exponent), a 0-d exponent, and a transposed base (strided scalar
 * loop); plus the same points in short chunks. */
START_TEST(test_f32_pow_binary_within_1ulp) {
  enum { R = 331, C = 303 }; /* R * C = 100293 points, odd */
  const int64_t n = (int64_t)R * C;
  tg_tape *tp = tg_tape_new();
  ck_assert_ptr_nonnull(tp);
  tg_rng rng;
  tg_rng_seed(&rng, 108);
  double *ad = malloc(sizeof(double) * (size_t)n);
  double *bd = malloc(sizeof(double) * (size_t)n);
  float *a = malloc(sizeof(float) * (size_t)n);
  float *b = malloc(sizeof(float) * (size_t)n);
  float *y = malloc(sizeof(float) * (size_t)n);
  ck_assert(ad && bd && a && b && y);
  tgt_fill_uniform(&rng, ad, n, log(0.01), log(100));
  tgt_fill_uniform(&rng, bd, n, -5, 5);
  for (int64_t i = 0; i < n; i++) {
    a[i] = (float)exp(ad[i]);
    b[i] = (float)bd[i];
  }
  ulp_stat st[5] = {{0}};
  const char *names[5] = {"same shape", "b [1]", "b 0-d", "a transposed",
                          "chunks"};
  /* 1: equal shapes. */
  tg_tensor *ta = tg_from_buffer(tp, TG_F32, 1, &n, a);
  tg_tensor *tb = tg_from_buffer(tp, TG_F32, 1, &n, b);
  tg_tensor *o = tg_pow(tp, ta, tb);
  ASSERT_OK(tp, o);
  ck_assert_int_eq(tg_copy_out(o, y), TG_OK);
  for (int64_t i = 0; i < n; i++)
    ulp_note(&st[0], y[i], (float)pow(a[i], b[i]), a[i], b[i]);
  /* 2 and 3: one exponent for all, as [1] and as 0-d. */
  const float e = 2.7182817f;
  const int64_t one[1] = {1};
  tg_tensor *e1 = tg_from_buffer(tp, TG_F32, 1, one, &e);
  tg_tensor *e0 = tg_from_buffer(tp, TG_F32, 0, NULL, &e);
  tg_tensor *o1 = tg_pow(tp, ta, e1), *o0 = tg_pow(tp, ta, e0);
  ASSERT_OK(tp, o0);
  ASSERT_OK(tp, o1);
  float *y0 = malloc(sizeof(float) * (size_t)n);
  ck_assert_ptr_nonnull(y0);
  ck_assert_int_eq(tg_copy_out(o1, y), TG_OK);
  ck_assert_int_eq(tg_copy_out(o0, y0), TG_OK);
  for (int64_t i = 0; i < n; i++) {
    float w = (float)pow(a[i], e);
    ulp_note(&st[1], y[i], w, a[i], e);
    ulp_note(&st[2], y0[i], w, a[i], e);
  }
  free(y0);
  /* 4: a is the transpose of a [C, R] leaf holding a[] in column order. */
  float *at = malloc(sizeof(float) * (size_t)n);
  ck_assert_ptr_nonnull(at);
  for (int i = 0; i < R; i++)
    for (int j = 0; j < C; j++)
      at[(int64_t)j * R + i] = a[(int64_t)i * C + j];
  const int64_t cr[2] = {C, R}, rc[2] = {R, C};
  tg_tensor *lt = tg_from_buffer(tp, TG_F32, 2, cr, at);
  tg_tensor *tt = tg_transpose(tp, lt, 0, 1);
  tg_tensor *tb2 = tg_from_buffer(tp, TG_F32, 2, rc, b);
  tg_tensor *o4 = tg_pow(tp, tt, tb2);
  ASSERT_OK(tp, o4);
  ck_assert_int_eq(tg_copy_out(o4, y), TG_OK);
  for (int64_t i = 0; i < n; i++)
    ulp_note(&st[3], y[i], (float)pow(a[i], b[i]), a[i], b[i]);
  free(at);
  /* 5: short chunks. */
  tg_tape_reset(tp);
  for (int64_t i = 0, k = 0; i < n; k++) {
    int64_t m = CHUNKS[k % N_CHUNKS];
    if (m > n - i) m = n - i;
    tg_tensor *ca = tg_from_buffer(tp, TG_F32, 1, &m, a + i);
    tg_tensor *cb = tg_from_buffer(tp, TG_F32, 1, &m, b + i);
    tg_tensor *co = tg_pow(tp, ca, cb);
    ASSERT_OK(tp, co);
    ck_assert_int_eq(tg_copy_out(co, y + i), TG_OK);
    tg_tape_reset(tp);
    i += m;
  }
  for (int64_t i = 0; i < n; i++)
    ulp_note(&st[4], y[i], (float)pow(a[i], b[i]), a[i], b[i]);
  int64_t worst = 0;
  for (int k = 0; k < 5; k++) {
    printf("vmath f32 %-12s max %lld ulp (%s) over %lld points, a in "
           "[0.01, 100], b in [-5, 5]; worst a=%.9g b=%.9g got %.9g want "
           "%.9g\n",
           "pow", (long long)st[k].max_ulp, names[k], (long long)st[k].count,
           st[k].worst_x, st[k].worst_y, (double)st[k].worst_got,
           (double)st[k].worst_want);
    if (st[k].max_ulp > worst) worst = st[k].max_ulp;
  }
  fflush(stdout);
  for (int k = 0; k < 5; k++)
    ck_assert_msg(st[k].max_ulp <= 1, "f32 pow (%s): max error %lld ulp",
                  names[k], (long long)st[k].max_ulp);
  free(ad);
  free(bd);
  free(a);
  free(b);
  free(y);
  tg_tape_free(tp);
}
END_TEST

/* --- f64: relative error against long double --------------------------- */

typedef struct {
  double max_rel; /* |got - ref| / |ref| */
  double max_ulp; /* |got - ref| / ulp(ref) */
  double worst_x, worst_y;
  double worst_got;
  long double worst_ref;
} rel_stat;

static double ulp_of(double y) {
  y = fabs(y);
  if (y == 0) return DBL_TRUE_MIN;
  return nextafter(y, INFINITY) - y;
}

static void rel_note(rel_stat *s, double got, long double ref, double x,
                     double y) {
  double diff = (double)fabsl((long double)got - ref);
  double r = (double)fabsl(ref);
  double rel = r > 0 ? diff / r : diff;
  double ulp = diff / ulp_of((double)ref);
  if (isnan(got) != isnan((double)ref)) rel = ulp = INFINITY;
  if (rel > s->max_rel || ulp > s->max_ulp) {
    if (rel > s->max_rel) s->max_rel = rel;
    if (ulp > s->max_ulp) s->max_ulp = ulp;
    s->worst_x = x;
    s->worst_y = y;
    s->worst_got = got;
    s->worst_ref = ref;
  }
}

static void run_f64(tg_tape *tp, unary_fn fn, const double *x, int64_t n,
                    double *y) {
  tg_tensor *t = tg_from_buffer(tp, TG_F64, 1, &n, x);
  tg_tensor *out = fn(tp, t);
  ASSERT_OK(tp, out);
  ck_assert_int_eq(out->numel, n);
  ck_assert_int_eq(out->dtype, TG_F64);
  ck_assert_int_eq(tg_copy_out(out, y), TG_OK);
}

/* Both passes of one f64 function; asserts max relative error <= k * eps
 * and prints the figures. */
static void measure_f64(const vcase *c, uint64_t seed, double k) {
  tg_tape *tp = tg_tape_new();
  ck_assert_ptr_nonnull(tp);
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  double *x = malloc(sizeof(double) * N_POINTS);
  double *y = malloc(sizeof(double) * N_POINTS);
  long double *ref = malloc(sizeof(long double) * N_POINTS);
  ck_assert(x && y && ref);
  make_points(&rng, c, x, N_POINTS);
  for (int64_t i = 0; i < N_POINTS; i++)
    ref[i] = c->refl(x[i]);
  rel_stat whole = {0}, chunked = {0};
  run_f64(tp, c->fn, x, N_POINTS, y);
  for (int64_t i = 0; i < N_POINTS; i++)
    rel_note(&whole, y[i], ref[i], x[i], 0);
  tg_tape_reset(tp);
  for (int64_t i = 0, q = 0; i < N_POINTS; q++) {
    int64_t n = CHUNKS[q % N_CHUNKS];
    if (n > N_POINTS - i) n = N_POINTS - i;
    run_f64(tp, c->fn, x + i, n, y + i);
    tg_tape_reset(tp);
    i += n;
  }
  for (int64_t i = 0; i < N_POINTS; i++)
    rel_note(&chunked, y[i], ref[i], x[i], 0);
  rel_stat *w = whole.max_rel >= chunked.max_rel ? &whole : &chunked;
  printf("vmath f64 %-12s max %.2f ulp, rel err %.2f eps (long tensor "
         "%.2f eps, chunks %.2f eps) over %d points in [%g, %g]; worst "
         "x=%.17g\n",
         c->name,
         whole.max_ulp > chunked.max_ulp ? whole.max_ulp : chunked.max_ulp,
         w->max_rel / DBL_EPSILON, whole.max_rel / DBL_EPSILON,
         chunked.max_rel / DBL_EPSILON, N_POINTS, c->lo, c->hi, w->worst_x);
  fflush(stdout);
  ck_assert_msg(whole.max_rel <= k * DBL_EPSILON &&
                    chunked.max_rel <= k * DBL_EPSILON,
                "f64 %s: relative error %.3g eps > %g eps at x=%.17g: got "
                "%.17g, want %.17Lg",
                c->name, w->max_rel / DBL_EPSILON, k, w->worst_x, w->worst_got,
                w->worst_ref);
  free(x);
  free(y);
  free(ref);
  tg_tape_free(tp);
}

static const vcase F64_EXP = {"exp", tg_exp, exp, expl, -700, 700, false};
static const vcase F64_LOG = {"log", tg_log, log, logl, 1e-300, 1e300, true};
static const vcase F64_TANH = {"tanh", tg_tanh, tanh, tanhl, -20, 20, false};
static const vcase F64_SIN = {"sin", tg_sin, sin, sinl, -100, 100, false};
static const vcase F64_COS = {"cos", tg_cos, cos, cosl, -100, 100, false};
static const vcase F64_SIGMOID = {
    "sigmoid", tg_sigmoid, ref_sigmoid, ref_sigmoidl, -700, 700, false};
static const vcase F64_POW25 = {
    "pow_scalar2.5", pow25, ref_pow25, ref_pow25l, 0.01, 100, true};

#define F64_TEST(NAME, CASE, SEED, K)                                          \
  START_TEST(NAME) { measure_f64(&(CASE), (SEED), (K)); }                      \
  END_TEST

F64_TEST(test_f64_exp_within_4eps, F64_EXP, 201, 4)
F64_TEST(test_f64_log_within_4eps, F64_LOG, 202, 4)
F64_TEST(test_f64_sin_within_4eps, F64_SIN, 203, 4)
F64_TEST(test_f64_cos_within_4eps, F64_COS, 204, 4)
F64_TEST(test_f64_pow_scalar_within_4eps, F64_POW25, 205, 4)
F64_TEST(test_f64_tanh_within_8eps, F64_TANH, 206, 8)
F64_TEST(test_f64_sigmoid_within_8eps, F64_SIGMOID, 207, 8)

/* Binary tg_pow in f64: equal shapes, a [1] exponent and short chunks. */
START_TEST(test_f64_pow_binary_within_4eps) {
  const int64_t n = N_POINTS;
  tg_tape *tp = tg_tape_new();
  ck_assert_ptr_nonnull(tp);
  tg_rng rng;
  tg_rng_seed(&rng, 208);
  double *a = malloc(sizeof(double) * (size_t)n);
  double *b = malloc(sizeof(double) * (size_t)n);
  double *y = malloc(sizeof(double) * (size_t)n);
  ck_assert(a && b && y);
  tgt_fill_uniform(&rng, a, n, log(0.01), log(100));
  for (int64_t i = 0; i < n; i++)
    a[i] = exp(a[i]);
  tgt_fill_uniform(&rng, b, n, -5, 5);
  rel_stat st[3] = {{0}};
  tg_tensor *ta = tg_from_buffer(tp, TG_F64, 1, &n, a);
  tg_tensor *tb = tg_from_buffer(tp, TG_F64, 1, &n, b);
  tg_tensor *o = tg_pow(tp, ta, tb);
  ASSERT_OK(tp, o);
  ck_assert_int_eq(tg_copy_out(o, y), TG_OK);
  for (int64_t i = 0; i < n; i++)
    rel_note(&st[0], y[i], powl(a[i], b[i]), a[i], b[i]);
  const double e = -1.3;
  const int64_t one[1] = {1};
  tg_tensor *te = tg_from_buffer(tp, TG_F64, 1, one, &e);
  tg_tensor *o1 = tg_pow(tp, ta, te);
  ASSERT_OK(tp, o1);
  ck_assert_int_eq(tg_copy_out(o1, y), TG_OK);
  for (int64_t i = 0; i < n; i++)
    rel_note(&st[1], y[i], powl(a[i], e), a[i], e);
  tg_tape_reset(tp);
  for (int64_t i = 0, k = 0; i < n; k++) {
    int64_t m = CHUNKS[k % N_CHUNKS];
    if (m > n - i) m = n - i;
    tg_tensor *ca = tg_from_buffer(tp, TG_F64, 1, &m, a + i);
    tg_tensor *cb = tg_from_buffer(tp, TG_F64, 1, &m, b + i);
    tg_tensor *co = tg_pow(tp, ca, cb);
    ASSERT_OK(tp, co);
    ck_assert_int_eq(tg_copy_out(co, y + i), TG_OK);
    tg_tape_reset(tp);
    i += m;
  }
  for (int64_t i = 0; i < n; i++)
    rel_note(&st[2], y[i], powl(a[i], b[i]), a[i], b[i]);
  const char *names[3] = {"same shape", "b [1]", "chunks"};
  for (int k = 0; k < 3; k++)
    printf("vmath f64 %-12s max %.2f ulp, rel err %.2f eps (%s) over %lld "
           "points; worst a=%.17g b=%.17g\n",
           "pow", st[k].max_ulp, st[k].max_rel / DBL_EPSILON, names[k],
           (long long)n, st[k].worst_x, st[k].worst_y);
  fflush(stdout);
  for (int k = 0; k < 3; k++)
    ck_assert_msg(st[k].max_rel <= 4 * DBL_EPSILON,
                  "f64 pow (%s): relative error %.3g eps at a=%.17g "
                  "b=%.17g",
                  names[k], st[k].max_rel / DBL_EPSILON, st[k].worst_x,
                  st[k].worst_y);
  free(a);
  free(b);
  free(y);
  tg_tape_free(tp);
}
END_TEST

/* The ULP measure itself: neighbours are 1 apart, across zero too. */
START_TEST(test_ulp_distance_measure) {
  ck_assert_int_eq(ulp_dist(1.0f, 1.0f), 0);
  ck_assert_int_eq(ulp_dist(nextafterf(1.0f, 2.0f), 1.0f), 1);
  ck_assert_int_eq(ulp_dist(nextafterf(1.0f, 0.0f), 1.0f), 1);
  ck_assert_int_eq(ulp_dist(-0.0f, 0.0f), 0);
  ck_assert_int_eq(ulp_dist(FLT_TRUE_MIN, -FLT_TRUE_MIN), 2);
  ck_assert_int_eq(ulp_dist(2.0f, 1.0f), 1 << 23);
  ck_assert_int_eq(ulp_dist(INFINITY, INFINITY), 0);
  ck_assert_int_gt(ulp_dist(NAN, 1.0f), 1000);
  ck_assert(ulp_of(1.0) == DBL_EPSILON);
}
END_TEST

static Suite *vmath_suite(void) {
  Suite *s = suite_create("vmath");
  TCase *tc = tcase_create("path");
  tcase_add_test(tc, test_path_is_the_expected_one);
  suite_add_tcase(s, tc);
  tc = tcase_create("f32");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_ulp_distance_measure);
  tcase_add_test(tc, test_f32_exp_within_1ulp);
  tcase_add_test(tc, test_f32_log_within_1ulp);
  tcase_add_test(tc, test_f32_sin_within_1ulp);
  tcase_add_test(tc, test_f32_cos_within_1ulp);
  tcase_add_test(tc, test_f32_pow_scalar_within_1ulp);
  tcase_add_test(tc, test_f32_pow_binary_within_1ulp);
  tcase_add_test(tc, test_f32_tanh_within_4ulp);
  tcase_add_test(tc, test_f32_sigmoid_within_4ulp);
  suite_add_tcase(s, tc);
  tc = tcase_create("f64");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_f64_exp_within_4eps);
  tcase_add_test(tc, test_f64_log_within_4eps);
  tcase_add_test(tc, test_f64_sin_within_4eps);
  tcase_add_test(tc, test_f64_cos_within_4eps);
  tcase_add_test(tc, test_f64_pow_scalar_within_4eps);
  tcase_add_test(tc, test_f64_pow_binary_within_4eps);
  tcase_add_test(tc, test_f64_tanh_within_8eps);
  tcase_add_test(tc, test_f64_sigmoid_within_8eps);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  const char *cap = getenv("TAPEGRAD_VMATH");
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  printf("vmath: processor %s AVX512F, %s AVX2+FMA\n",
         __builtin_cpu_supports("avx512f") ? "has" : "lacks",
         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
             ? "has"
             : "lacks");
#endif
  printf("vmath: TAPEGRAD_VMATH=%s, path %s\n", cap ? cap : "(unset)",
         tg_k_vmath_isa());
  fflush(stdout);
  return tgt_run_suite(vmath_suite());
}
