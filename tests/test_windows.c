/* tapegrad: sliding-window ops (unfold, fold) and the layer maths built on
 * them (conv1d, conv2d, max_pool2d, avg_pool2d).
 *
 * Forward values are compared against direct nested loops over plain C
 * doubles (NCHW, cross-correlation, as PyTorch), across many strides,
 * paddings, dilations, groups and odd sizes; fold is checked as the adjoint
 * of unfold; gradients go through tg_gradcheck and tg_gradgradcheck with
 * default options; every error returns NULL and names the function. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "tapegrad.h"

/* --- geometry ------------------------------------------------------------- */

static int64_t nz(int64_t v) { return v > 0 ? v : 1; }

/* Number of window positions along one axis (0 when the kernel does not fit
 * the padded input). */
static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  int64_t span = d * (k - 1) + 1, padded = in + 2 * p;
  if (padded < span) return 0;
  return (padded - span) / s + 1;
}

/* A 2-D geometry; a 1-D case is the 2-D one with h = 1 and kh = 1. */
typedef struct geom {
  int64_t n, c, h, w;     /* input */
  int64_t o, g;           /* conv: output channels, groups */
  int64_t kh, kw, sh, sw; /* kernel, stride */
  int64_t ph, pw, dh, dw; /* padding, dilation */
  int64_t oh, ow;         /* output positions */
} geom;

static void geom_finish(geom *g) {
  g->oh = out_len(g->h, g->kh, g->sh, g->ph, g->dh);
  g->ow = out_len(g->w, g->kw, g->sw, g->pw, g->dw);
}

/* Geometry of a window over x [n, c, h, w] (or [n, c, w] when one_d).
 * pool: a stride of 0 means the kernel size; otherwise it means 1. */
static geom win_geom(const tg_window *win, int64_t n, int64_t c, int64_t h,
                     int64_t w, bool one_d, bool pool) {
  geom g;
  memset(&g, 0, sizeof g);
  g.n = n;
  g.c = c;
  g.o = c;
  g.g = 1;
  if (one_d) {
    g.h = 1, g.kh = 1, g.sh = 1, g.ph = 0, g.dh = 1;
    g.w = w;
    g.kw = win->kernel[0];
    g.sw = win->stride[0] ? win->stride[0] : (pool ? g.kw : 1);
    g.pw = win->padding[0];
    g.dw = nz(win->dilation[0]);
  } else {
    g.h = h, g.w = w;
    g.kh = win->kernel[0], g.kw = win->kernel[1];
    g.sh = win->stride[0] ? win->stride[0] : (pool ? g.kh : 1);
    g.sw = win->stride[1] ? win->stride[1] : (pool ? g.kw : 1);
    g.ph = win->padding[0], g.pw = win->padding[1];
    g.dh = nz(win->dilation[0]), g.dw = nz(win->dilation[1]);
  }
  geom_finish(&g);
  return g;
}

/* A convolution case. 1-D cases use w for the length L and kw for the
 * kernel size, and read entry [0] of the options. */
typedef struct conv_cfg {
  int64_t n, c, h, w, o, kh, kw;
  tg_conv_opts opts; /* as passed: zeros mean the defaults */
  bool bias;
} conv_cfg;

static geom conv_geom(const conv_cfg *cf, bool one_d) {
  geom g;
  memset(&g, 0, sizeof g);
  g.n = cf->n, g.c = cf->c, g.o = cf->o, g.g = nz(cf->opts.groups);
  if (one_d) {
    g.h = 1, g.kh = 1, g.sh = 1, g.ph = 0, g.dh = 1;
    g.w = cf->w, g.kw = cf->kw;
    g.sw = nz(cf->opts.stride[0]);
    g.pw = cf->opts.padding[0];
    g.dw = nz(cf->opts.dilation[0]);
  } else {
    g.h = cf->h, g.w = cf->w, g.kh = cf->kh, g.kw = cf->kw;
    g.sh = nz(cf->opts.stride[0]), g.sw = nz(cf->opts.stride[1]);
    g.ph = cf->opts.padding[0], g.pw = cf->opts.padding[1];
    g.dh = nz(cf->opts.dilation[0]), g.dw = nz(cf->opts.dilation[1]);
  }
  geom_finish(&g);
  return g;
}

/* --- references: plain nested loops over doubles ------------------------- */

/* y[n, o, oy, ox] = b[o] + sum over the channels of o's group and the
 * kernel of x[n, c, oy*sh - ph + i*dh, ox*sw - pw + j*dw] * w[o, ci, i, j],
 * with zeros outside x. */
static void ref_conv(const geom *g, const double *x, const double *w,
                     const double *b, double *y) {
  int64_t cpg = g->c / g->g, opg = g->o / g->g;
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t o = 0; o < g->o; o++)
      for (int64_t oy = 0; oy < g->oh; oy++)
        for (int64_t ox = 0; ox < g->ow; ox++) {
          double s = b ? b[o] : 0.0;
          for (int64_t ci = 0; ci < cpg; ci++) {
            int64_t c = (o / opg) * cpg + ci;
            for (int64_t i = 0; i < g->kh; i++)
              for (int64_t j = 0; j < g->kw; j++) {
                int64_t iy = oy * g->sh - g->ph + i * g->dh;
                int64_t ix = ox * g->sw - g->pw + j * g->dw;
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
                s += x[((n * g->c + c) * g->h + iy) * g->w + ix] *
                     w[((o * cpg + ci) * g->kh + i) * g->kw + j];
              }
          }
          y[((n * g->o + o) * g->oh + oy) * g->ow + ox] = s;
        }
}

/* Max (padding is -inf) or mean (padding is 0, divisor kh*kw) of each
 * window. */
static void ref_pool(const geom *g, const double *x, bool is_max, double *y) {
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t c = 0; c < g->c; c++)
      for (int64_t oy = 0; oy < g->oh; oy++)
        for (int64_t ox = 0; ox < g->ow; ox++) {
          double m = -INFINITY, s = 0.0;
          for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
              int64_t iy = oy * g->sh - g->ph + i * g->dh;
              int64_t ix = ox * g->sw - g->pw + j * g->dw;
              if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
              double v = x[((n * g->c + c) * g->h + iy) * g->w + ix];
              m = v > m ? v : m;
              s += v;
            }
          y[((n * g->c + c) * g->oh + oy) * g->ow + ox] =
              is_max ? m : s / (double)(g->kh * g->kw);
        }
}

/* im2col: cols[n, c*kh*kw + i*kw + j, oy*ow + ox], zero padding. */
static void ref_unfold(const geom *g, const double *x, double *cols) {
  int64_t rows = g->c * g->kh * g->kw, L = g->oh * g->ow;
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t c = 0; c < g->c; c++)
      for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) {
          int64_t r = (c * g->kh + i) * g->kw + j;
          for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
              int64_t iy = oy * g->sh - g->ph + i * g->dh;
              int64_t ix = ox * g->sw - g->pw + j * g->dw;
              double v = 0.0;
              if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w)
                v = x[((n * g->c + c) * g->h + iy) * g->w + ix];
              cols[(n * rows + r) * L + oy * g->ow + ox] = v;
            }
        }
}

/* col2im: the adjoint of ref_unfold (adds overlapping windows). */
static void ref_fold(const geom *g, const double *cols, double *x) {
  int64_t rows = g->c * g->kh * g->kw, L = g->oh * g->ow;
  memset(x, 0, (size_t)(g->n * g->c * g->h * g->w) * sizeof *x);
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t c = 0; c < g->c; c++)
      for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) {
          int64_t r = (c * g->kh + i) * g->kw + j;
          for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
              int64_t iy = oy * g->sh - g->ph + i * g->dh;
              int64_t ix = ox * g->sw - g->pw + j * g->dw;
              if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w)
                x[((n * g->c + c) * g->h + iy) * g->w + ix] +=
                    cols[(n * rows + r) * L + oy * g->ow + ox];
            }
        }
}

/* --- small helpers -------------------------------------------------------- */

static double *alloc_d(int64_t n) {
  double *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
  ck_assert_ptr_nonnull(p);
  return p;
}

/* n uniform values in [-1, 1), rounded to float when f32. */
static double *rand_buf(tg_rng *rng, int64_t n, bool f32) {
  double *p = alloc_d(n);
  tgt_fill_uniform(rng, p, n, -1.0, 1.0);
  if (f32)
    for (int64_t i = 0; i < n; i++)
      p[i] = (double)(float)p[i];
  return p;
}

/* n distinct values (no two closer than 0.1), rounded to float when f32. */
static double *distinct_buf(tg_rng *rng, int64_t n, bool f32) {
  double *p = alloc_d(n);
  tgt_fill_distinct(rng, p, n, -0.1 * (double)n, 0.2);
  if (f32)
    for (int64_t i = 0; i < n; i++)
      p[i] = (double)(float)p[i];
  return p;
}

static bool shape_is(const tg_tensor *t, int ndim, const int64_t *shape) {
  if (!t || t->ndim != ndim) return false;
  for (int i = 0; i < ndim; i++)
    if (t->shape[i] != shape[i]) return false;
  return true;
}

static const char *shape_of(const tg_tensor *t) {
  static char buf[128];
  if (!t) return "(null)";
  return tg_shape_str(t, buf, sizeof buf);
}

static const char *dt_name(tg_dtype dt) { return dt == TG_F32 ? "f32" : "f64"; }

static void describe(char *buf, size_t size, const char *what, const geom *g,
                     tg_dtype dt) {
  snprintf(buf, size,
           "%s %s x[%lld,%lld,%lld,%lld] o %lld groups %lld kernel %lldx%lld "
           "stride %lldx%lld padding %lldx%lld dilation %lldx%lld",
           what, dt_name(dt), (long long)g->n, (long long)g->c, (long long)g->h,
           (long long)g->w, (long long)g->o, (long long)g->g, (long long)g->kh,
           (long long)g->kw, (long long)g->sh, (long long)g->sw,
           (long long)g->ph, (long long)g->pw, (long long)g->dh,
           (long long)g->dw);
}

/* --- conv forward --------------------------------------------------------- */

/* Runs one convolution case against ref_conv; false when the configuration
 * has no output position (skipped). */
static bool run_conv_case(const conv_cfg *cf, bool one_d, tg_dtype dt,
                          double tol, uint64_t seed) {
  geom g = conv_geom(cf, one_d);
  if (g.oh < 1 || g.ow < 1) return false;
  int64_t cpg = g.c / g.g;
  int64_t nx = g.n * g.c * g.h * g.w, nw = g.o * cpg * g.kh * g.kw;
  int64_t ny = g.n * g.o * g.oh * g.ow;
  bool f32 = dt == TG_F32;
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  double *x = rand_buf(&rng, nx, f32), *w = rand_buf(&rng, nw, f32);
  double *b = rand_buf(&rng, g.o, f32);
  double *ref = alloc_d(ny), *got = alloc_d(ny);
  ref_conv(&g, x, w, cf->bias ? b : NULL, ref);

  char label[512];
  describe(label, sizeof label, one_d ? "conv1d" : "conv2d", &g, dt);
  tg_tape *tp = tg_tape_new();
  ck_assert_ptr_nonnull(tp);
  int64_t sb[1] = {g.o};
  tg_tensor *tx, *tw, *y;
  tg_tensor *tb = cf->bias ? tg_from_f64(tp, dt, 1, sb, b) : NULL;
  if (one_d) {
    int64_t sx[3] = {g.n, g.c, g.w}, sw[3] = {g.o, cpg, g.kw};
    tx = tg_from_f64(tp, dt, 3, sx, x);
    tw = tg_from_f64(tp, dt, 3, sw, w);
    y = tg_conv1d(tp, tx, tw, tb, &cf->opts);
  } else {
    int64_t sx[4] = {g.n, g.c, g.h, g.w}, sw[4] = {g.o, cpg, g.kh, g.kw};
    tx = tg_from_f64(tp, dt, 4, sx, x);
    tw = tg_from_f64(tp, dt, 4, sw, w);
    y = tg_conv2d(tp, tx, tw, tb, &cf->opts);
  }
  ck_assert_msg(!tgt_failed(tp, y, label), "%s: failed: %s", label,
                tg_errmsg(tp));
  int64_t want4[4] = {g.n, g.o, g.oh, g.ow}, want3[3] = {g.n, g.o, g.ow};
  ck_assert_msg(one_d ? shape_is(y, 3, want3) : shape_is(y, 4, want4),
                "%s: output shape %s, expected [%lldx%lldx%lldx%lld]", label,
                shape_of(y), (long long)g.n, (long long)g.o, (long long)g.oh,
                (long long)g.ow);
  ck_assert_msg(y->dtype == dt, "%s: output dtype %s", label,
                tg_dtype_name(y->dtype));
  ck_assert(tgt_copy_out(y, got));
  ck_assert_msg(tgt_close_all(label, got, ref, ny, tol), "%s: values differ",
                label);
  tg_tape_free(tp);
  free(x), free(w), free(b), free(ref), free(got);
  return true;
}

/* Shapes: odd sizes, groups, batch 1 and 3. */
static const conv_cfg conv2d_shapes[] = {
    {.n = 1,
     .c = 4,
     .h = 7,
     .w = 5,
     .o = 6,
     .kh = 3,
     .kw = 2,
     .opts.groups = 2,
     .bias = true},
    {.n = 3, .c = 3, .h = 6, .w = 7, .o = 2, .kh = 3, .kw = 3, .bias = false},
    {.n = 2,
     .c = 2,
     .h = 5,
     .w = 8,
     .o = 4,
     .kh = 1,
     .kw = 3,
     .opts.groups = 2,
     .bias = true},
    {.n = 1,
     .c = 6,
     .h = 9,
     .w = 4,
     .o = 3,
     .kh = 2,
     .kw = 2,
     .opts.groups = 3,
     .bias = true},
};

/* Runs every shape with every stride 1..3, padding 0..2 and dilation 1..2
 * (same on both axes), plus a few asymmetric settings. Stride and dilation
 * 1 are sometimes passed as 0 (the default). */
static void conv2d_sweep(tg_dtype dt, double tol) {
  int tested = 0;
  uint64_t seed = 100;
  int n_shapes = (int)(sizeof conv2d_shapes / sizeof conv2d_shapes[0]);
  for (int si = 0; si < n_shapes; si++) {
    for (int s = 1; s <= 3; s++)
      for (int p = 0; p <= 2; p++)
        for (int d = 1; d <= 2; d++) {
          conv_cfg cf = conv2d_shapes[si];
          bool zero_default = (p + si) % 2 == 0;
          int64_t sv = (s == 1 && zero_default) ? 0 : s;
          int64_t dv = (d == 1 && zero_default) ? 0 : d;
          cf.opts.stride[0] = cf.opts.stride[1] = sv;
          cf.opts.padding[0] = cf.opts.padding[1] = p;
          cf.opts.dilation[0] = cf.opts.dilation[1] = dv;
          tested += run_conv_case(&cf, false, dt, tol, seed++);
        }
    static const int64_t asym[4][6] = {
        {2, 1, 0, 2, 1, 2},
        {3, 2, 1, 0, 2, 1},
        {1, 3, 2, 1, 2, 2},
        {2, 3, 1, 2, 1, 1},
    };
    for (int a = 0; a < 4; a++) {
      conv_cfg cf = conv2d_shapes[si];
      cf.opts.stride[0] = asym[a][0], cf.opts.stride[1] = asym[a][1];
      cf.opts.padding[0] = asym[a][2], cf.opts.padding[1] = asym[a][3];
      cf.opts.dilation[0] = asym[a][4], cf.opts.dilation[1] = asym[a][5];
      tested += run_conv_case(&cf, false, dt, tol, seed++);
    }
  }
  ck_assert_int_ge(tested, 60);
}

START_TEST(test_conv2d_matches_loops_f64) { conv2d_sweep(TG_F64, 1e-12); }
END_TEST

START_TEST(test_conv2d_matches_loops_f32) { conv2d_sweep(TG_F32, 1e-5); }
END_TEST

/* The kernel fits exactly once thanks to the padding. */
START_TEST(test_conv2d_kernel_fits_with_padding) {
  conv_cfg cf = {
      .n = 1, .c = 1, .h = 3, .w = 3, .o = 1, .kh = 5, .kw = 5, .bias = true};
  cf.opts.padding[0] = cf.opts.padding[1] = 1;
  ck_assert(run_conv_case(&cf, false, TG_F64, 1e-12, 7));
  /* and a 1x1 kernel with stride 3 */
  conv_cfg c2 = {.n = 2, .c = 3, .h = 7, .w = 5, .o = 4, .kh = 1, .kw = 1};
  c2.opts.stride[0] = c2.opts.stride[1] = 3;
  ck_assert(run_conv_case(&c2, false, TG_F64, 1e-12, 8));
}
END_TEST

static const conv_cfg conv1d_shapes[] = {
    {.n = 1, .c = 4, .w = 11, .o = 6, .kw = 3, .opts.groups = 2, .bias = true},
    {.n = 3, .c = 3, .w = 8, .o = 2, .kw = 2, .bias = false},
    {.n = 2, .c = 2, .w = 5, .o = 2, .kw = 4, .opts.groups = 2, .bias = true},
    {.n = 1, .c = 6, .w = 7, .o = 4, .kw = 1, .opts.groups = 2, .bias = true},
};

static void conv1d_sweep(tg_dtype dt, double tol) {
  int tested = 0;
  uint64_t seed = 500;
  int n_shapes = (int)(sizeof conv1d_shapes / sizeof conv1d_shapes[0]);
  for (int si = 0; si < n_shapes; si++)
    for (int s = 1; s <= 3; s++)
      for (int p = 0; p <= 2; p++)
        for (int d = 1; d <= 2; d++) {
          conv_cfg cf = conv1d_shapes[si];
          bool zero_default = (p + si) % 2 == 0;
          cf.opts.stride[0] = (s == 1 && zero_default) ? 0 : s;
          cf.opts.padding[0] = p;
          cf.opts.dilation[0] = (d == 1 && zero_default) ? 0 : d;
          tested += run_conv_case(&cf, true, dt, tol, seed++);
        }
  ck_assert_int_ge(tested, 50);
}

START_TEST(test_conv1d_matches_loops_f64) { conv1d_sweep(TG_F64, 1e-12); }
END_TEST

START_TEST(test_conv1d_matches_loops_f32) { conv1d_sweep(TG_F32, 1e-5); }
END_TEST

/* --- pooling forward ------------------------------------------------------ */

typedef struct pool_cfg {
  int64_t n, c, h, w;
  tg_window win;
} pool_cfg;

/* One pooling case against ref_pool; false when skipped (no output, or a
 * max window lying entirely in the padding). */
static bool run_pool_case(const pool_cfg *cf, bool is_max, tg_dtype dt,
                          double tol, uint64_t seed) {
  geom g = win_geom(&cf->win, cf->n, cf->c, cf->h, cf->w, false, true);
  if (g.oh < 1 || g.ow < 1) return false;
  int64_t nx = g.n * g.c * g.h * g.w, ny = g.n * g.c * g.oh * g.ow;
  bool f32 = dt == TG_F32;
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  double *x = is_max ? distinct_buf(&rng, nx, f32) : rand_buf(&rng, nx, f32);
  double *ref = alloc_d(ny), *got = alloc_d(ny);
  ref_pool(&g, x, is_max, ref);
  bool skip = false;
  for (int64_t i = 0; i < ny; i++)
    skip = skip || isinf(ref[i]);
  if (skip) {
    free(x), free(ref), free(got);
    return false;
  }
  char label[512];
  describe(label, sizeof label, is_max ? "max_pool2d" : "avg_pool2d", &g, dt);
  tg_tape *tp = tg_tape_new();
  int64_t sx[4] = {g.n, g.c, g.h, g.w};
  tg_tensor *tx = tg_from_f64(tp, dt, 4, sx, x);
  tg_tensor *y = is_max ? tg_max_pool2d(tp, tx, &cf->win)
                        : tg_avg_pool2d(tp, tx, &cf->win);
  ck_assert_msg(!tgt_failed(tp, y, label), "%s: failed: %s", label,
                tg_errmsg(tp));
  int64_t want[4] = {g.n, g.c, g.oh, g.ow};
  ck_assert_msg(shape_is(y, 4, want),
                "%s: output shape %s, expected [%lldx%lldx%lldx%lld]", label,
                shape_of(y), (long long)g.n, (long long)g.c, (long long)g.oh,
                (long long)g.ow);
  ck_assert_int_eq(y->dtype, dt);
  ck_assert(tgt_copy_out(y, got));
  ck_assert_msg(tgt_close_all(label, got, ref, ny, tol), "%s: values differ",
                label);
  tg_tape_free(tp);
  free(x), free(ref), free(got);
  return true;
}

/* Kernels 2x2, 3x2, 3x3, 2x3; strides 0 (= kernel), 1, 2, 3; padding up to
 * half the kernel; dilation 1 or 2 (dilation only when with_dilation). */
static void pool_sweep(bool is_max, tg_dtype dt, double tol,
                       bool with_dilation) {
  static const int64_t kernels[4][2] = {{2, 2}, {3, 2}, {3, 3}, {2, 3}};
  static const int64_t shapes[3][4] = {
      {1, 2, 7, 5}, {3, 2, 6, 6}, {2, 1, 5, 9}};
  int tested = 0;
  uint64_t seed = is_max ? 900 : 1900;
  for (int si = 0; si < 3; si++)
    for (int ki = 0; ki < 4; ki++)
      for (int s = 0; s <= 3; s++)
        for (int p = 0; p <= 1; p++)
          for (int d = 1; d <= (with_dilation ? 2 : 1); d++) {
            pool_cfg cf;
            memset(&cf, 0, sizeof cf);
            cf.n = shapes[si][0], cf.c = shapes[si][1];
            cf.h = shapes[si][2], cf.w = shapes[si][3];
            cf.win.kernel[0] = kernels[ki][0];
            cf.win.kernel[1] = kernels[ki][1];
            cf.win.stride[0] = cf.win.stride[1] = s;
            cf.win.padding[0] = cf.win.padding[1] = p;
            if (with_dilation) cf.win.dilation[0] = cf.win.dilation[1] = d;
            if (2 * p > kernels[ki][0] || 2 * p > kernels[ki][1]) continue;
            tested += run_pool_case(&cf, is_max, dt, tol, seed++);
          }
  /* asymmetric strides and paddings */
  static const int64_t asym[3][6] = {
      {3, 2, 2, 1, 1, 0}, /* kernel, stride, padding (h, w) */
      {2, 3, 1, 2, 0, 1},
      {3, 3, 2, 0, 1, 1},
  };
  for (int a = 0; a < 3; a++) {
    pool_cfg cf;
    memset(&cf, 0, sizeof cf);
    cf.n = 2, cf.c = 3, cf.h = 7, cf.w = 5;
    cf.win.kernel[0] = asym[a][0], cf.win.kernel[1] = asym[a][1];
    cf.win.stride[0] = asym[a][2], cf.win.stride[1] = asym[a][3];
    cf.win.padding[0] = asym[a][4], cf.win.padding[1] = asym[a][5];
    tested += run_pool_case(&cf, is_max, dt, tol, seed++);
  }
  ck_assert_int_ge(tested, with_dilation ? 100 : 60);
}

START_TEST(test_max_pool2d_matches_loops_f64) {
  pool_sweep(true, TG_F64, 1e-12, false);
}
END_TEST

START_TEST(test_max_pool2d_matches_loops_f32) {
  pool_sweep(true, TG_F32, 1e-5, false);
}
END_TEST

START_TEST(test_max_pool2d_with_dilation) {
  pool_sweep(true, TG_F64, 1e-12, true);
}
END_TEST

START_TEST(test_avg_pool2d_matches_loops_f64) {
  pool_sweep(false, TG_F64, 1e-12, false);
}
END_TEST

START_TEST(test_avg_pool2d_matches_loops_f32) {
  pool_sweep(false, TG_F32, 1e-5, false);
}
END_TEST

START_TEST(test_avg_pool2d_with_dilation) {
  pool_sweep(false, TG_F64, 1e-12, true);
}
END_TEST

/* Padding is -inf for max: a window whose valid part is all negative gives
 * that negative maximum, not the zero of a zero padding. */
START_TEST(test_max_pool2d_padding_is_minus_infinity) {
  tg_tape *tp = tg_tape_new();
  double v[4] = {-4, -3, -2, -1};
  int64_t s[4] = {1, 1, 2, 2};
  tg_window win;
  memset(&win, 0, sizeof win);
  win.kernel[0] = win.kernel[1] = 2;
  win.stride[0] = win.stride[1] = 1;
  win.padding[0] = win.padding[1] = 1;
  tg_tensor *y = tg_max_pool2d(tp, tg_from_f64(tp, TG_F64, 4, s, v), &win);
  ck_assert(!tgt_failed(tp, y, "max_pool2d"));
  int64_t want[4] = {1, 1, 3, 3};
  ck_assert_msg(shape_is(y, 4, want), "shape %s", shape_of(y));
  double expect[9] = {-4, -3, -3, -2, -1, -1, -2, -1, -1}, got[9];
  ck_assert(tgt_copy_out(y, got));
  for (int i = 0; i < 9; i++)
    ck_assert_double_eq(got[i], expect[i]);
  /* and avg counts the padding as zeros, dividing by the kernel area */
  tg_tensor *a = tg_avg_pool2d(tp, tg_from_f64(tp, TG_F64, 4, s, v), &win);
  ck_assert(!tgt_failed(tp, a, "avg_pool2d"));
  double expect_a[9] = {-1, -7.0 / 4, -0.75,    -6.0 / 4, -10.0 / 4,
                        -1, -0.5,     -3.0 / 4, -0.25};
  ck_assert(tgt_copy_out(a, got));
  for (int i = 0; i < 9; i++)
    ck_assert_double_eq_tol(got[i], expect_a[i], 1e-15);
  tg_tape_free(tp);
}
END_TEST

/* A stride of 0 is the kernel size for the pools (non-overlapping). */
START_TEST(test_pool_stride_zero_means_kernel) {
  tg_tape *tp = tg_tape_new();
  int64_t s[4] = {1, 1, 4, 6};
  double v[24];
  for (int i = 0; i < 24; i++)
    v[i] = (double)((i * 7) % 24);
  tg_window win;
  memset(&win, 0, sizeof win);
  win.kernel[0] = 2, win.kernel[1] = 3;
  tg_tensor *x = tg_from_f64(tp, TG_F64, 4, s, v);
  tg_tensor *m = tg_max_pool2d(tp, x, &win);
  tg_tensor *a = tg_avg_pool2d(tp, x, &win);
  ck_assert(!tgt_failed(tp, m, "max_pool2d") && !tgt_failed(tp, a, "avg"));
  int64_t want[4] = {1, 1, 2, 2};
  ck_assert_msg(shape_is(m, 4, want), "max shape %s", shape_of(m));
  ck_assert_msg(shape_is(a, 4, want), "avg shape %s", shape_of(a));
  for (int oy = 0; oy < 2; oy++)
    for (int ox = 0; ox < 2; ox++) {
      double mx = -INFINITY, sum = 0;
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
          double e = v[(oy * 2 + i) * 6 + ox * 3 + j];
          mx = fmax(mx, e);
          sum += e;
        }
      ck_assert_double_eq(tg_get_flat(m, oy * 2 + ox), mx);
      ck_assert_double_eq_tol(tg_get_flat(a, oy * 2 + ox), sum / 6, 1e-14);
    }
  tg_tape_free(tp);
}
END_TEST

/* Non-contiguous operands: x and w reached through permutations of
 * channels-last tensors, as a model holding NHWC data would pass them. */
START_TEST(test_conv_and_pools_of_permuted_views) {
  tg_tape *tp = tg_tape_new();
  int64_t nhwc[4] = {2, 6, 5, 4}, ohwi[4] = {6, 3, 2, 2}, sb[1] = {6};
  int perm[4] = {0, 3, 1, 2};
  tg_tape_seed(tp, 77);
  tg_tensor *x = tg_permute(tp, tg_rand_uniform(tp, TG_F64, 4, nhwc, -1, 1),
                            perm); /* [2, 4, 6, 5] */
  tg_tensor *w = tg_permute(tp, tg_rand_uniform(tp, TG_F64, 4, ohwi, -1, 1),
                            perm); /* [6, 2, 3, 2] */
  tg_tensor *b = tg_rand_uniform(tp, TG_F64, 1, sb, -1, 1);
  ck_assert(!tgt_failed(tp, x, "x") && !tgt_failed(tp, w, "w"));
  ck_assert(!tg_is_contiguous(x) && !tg_is_contiguous(w));
  double *xv = tgt_read(x), *wv = tgt_read(w), *bv = tgt_read(b);
  ck_assert(xv && wv && bv);

  conv_cfg cf = {.n = 2,
                 .c = 4,
                 .h = 6,
                 .w = 5,
                 .o = 6,
                 .kh = 3,
                 .kw = 2,
                 .opts.groups = 2,
                 .bias = true};
  cf.opts.stride[0] = 2, cf.opts.padding[1] = 1, cf.opts.dilation[1] = 2;
  geom g = conv_geom(&cf, false);
  int64_t ny = g.n * g.o * g.oh * g.ow;
  double *ref = alloc_d(ny);
  ref_conv(&g, xv, wv, bv, ref);
  tg_tensor *y = tg_conv2d(tp, x, w, b, &cf.opts);
  ck_assert_msg(!tgt_failed(tp, y, "conv2d of views"), "%s", tg_errmsg(tp));
  ck_assert_int_eq(y->numel, ny);
  double *got = tgt_read(y);
  ck_assert(got &&
            tgt_close_all("conv2d of permuted views", got, ref, ny, 1e-12));
  free(ref), free(got);

  for (int is_max = 0; is_max < 2; is_max++) {
    tg_window win;
    memset(&win, 0, sizeof win);
    win.kernel[0] = 3, win.kernel[1] = 2;
    win.stride[0] = 2, win.stride[1] = 1;
    win.padding[0] = 1;
    geom pg = win_geom(&win, 2, 4, 6, 5, false, true);
    int64_t np = pg.n * pg.c * pg.oh * pg.ow;
    double *pref = alloc_d(np);
    ref_pool(&pg, xv, is_max, pref);
    tg_tensor *p =
        is_max ? tg_max_pool2d(tp, x, &win) : tg_avg_pool2d(tp, x, &win);
    ck_assert_msg(!tgt_failed(tp, p, "pool of a view"), "%s", tg_errmsg(tp));
    ck_assert_int_eq(p->numel, np);
    double *pgot = tgt_read(p);
    ck_assert_msg(
        pgot && tgt_close_all("pool of a permuted view", pgot, pref, np, 1e-12),
        "%s of a permuted view differs", is_max ? "max" : "avg");
    free(pref), free(pgot);
  }
  free(xv), free(wv), free(bv);
  tg_tape_free(tp);
}
END_TEST

/* --- unfold and fold ------------------------------------------------------ */

typedef struct unf_cfg {
  int64_t n, c, h, w; /* 1-D uses w as the length */
  tg_window win;
  bool one_d;
} unf_cfg;

static geom unf_geom(const unf_cfg *cf) {
  return win_geom(&cf->win, cf->n, cf->c, cf->h, cf->w, cf->one_d, false);
}

static tg_tensor *make_spatial(tg_tape *tp, const geom *g, bool one_d,
                               const double *v) {
  int64_t s4[4] = {g->n, g->c, g->h, g->w}, s3[3] = {g->n, g->c, g->w};
  return one_d ? tg_from_f64(tp, TG_F64, 3, s3, v)
               : tg_from_f64(tp, TG_F64, 4, s4, v);
}

static tg_tensor *fold_to(tg_tape *tp, tg_tensor *cols, const geom *g,
                          bool one_d, const tg_window *win) {
  int64_t out2[2] = {g->h, g->w}, out1[1] = {g->w};
  return one_d ? tg_fold(tp, cols, 1, out1, win)
               : tg_fold(tp, cols, 2, out2, win);
}

/* Runs unfold against ref_unfold, fold against ref_fold, the adjoint
 * identity <unfold(x), y> = <x, fold(y)>, and fold(unfold(ones)) as overlap
 * counts. false when skipped (no window position). */
static bool run_unfold_case(const unf_cfg *cf, uint64_t seed) {
  geom g = unf_geom(cf);
  if (g.oh < 1 || g.ow < 1) return false;
  int64_t rows = g.c * g.kh * g.kw, L = g.oh * g.ow;
  int64_t nx = g.n * g.c * g.h * g.w, ncol = g.n * rows * L;
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  double *x = rand_buf(&rng, nx, false), *y = rand_buf(&rng, ncol, false);
  double *ref_c = alloc_d(ncol), *got_c = alloc_d(ncol);
  double *ref_x = alloc_d(nx), *got_x = alloc_d(nx);
  char label[512];
  describe(label, sizeof label, cf->one_d ? "unfold 1-D" : "unfold 2-D", &g,
           TG_F64);

  tg_tape *tp = tg_tape_new();
  /* unfold */
  tg_tensor *tx = make_spatial(tp, &g, cf->one_d, x);
  tg_tensor *u = tg_unfold(tp, tx, &cf->win);
  ck_assert_msg(!tgt_failed(tp, u, label), "%s: failed: %s", label,
                tg_errmsg(tp));
  int64_t want_u[3] = {g.n, rows, L};
  ck_assert_msg(shape_is(u, 3, want_u),
                "%s: shape %s, expected [%lldx%lldx%lld]", label, shape_of(u),
                (long long)g.n, (long long)rows, (long long)L);
  ref_unfold(&g, x, ref_c);
  ck_assert(tgt_copy_out(u, got_c));
  ck_assert_msg(tgt_close_all(label, got_c, ref_c, ncol, 0.0),
                "%s: unfold values differ", label);

  /* fold */
  int64_t sy[3] = {g.n, rows, L};
  tg_tensor *ty = tg_from_f64(tp, TG_F64, 3, sy, y);
  tg_tensor *f = fold_to(tp, ty, &g, cf->one_d, &cf->win);
  ck_assert_msg(!tgt_failed(tp, f, label), "%s: fold failed: %s", label,
                tg_errmsg(tp));
  ck_assert_msg(shape_is(f, tx->ndim, tx->shape), "%s: fold shape %s", label,
                shape_of(f));
  ref_fold(&g, y, ref_x);
  ck_assert(tgt_copy_out(f, got_x));
  ck_assert_msg(tgt_close_all(label, got_x, ref_x, nx, 1e-12),
                "%s: fold values differ", label);

  /* adjoint: <unfold(x), y> == <x, fold(y)> */
  double lhs = 0.0, rhs = 0.0;
  for (int64_t i = 0; i < ncol; i++)
    lhs += got_c[i] * y[i];
  for (int64_t i = 0; i < nx; i++)
    rhs += x[i] * got_x[i];
  ck_assert_msg(fabs(lhs - rhs) <= 1e-12 * fmax(1.0, fabs(lhs)),
                "%s: <unfold(x), y> = %.17g but <x, fold(y)> = %.17g", label,
                lhs, rhs);

  /* fold(unfold(ones)) counts how many windows cover each element */
  for (int64_t i = 0; i < nx; i++)
    x[i] = 1.0;
  ref_unfold(&g, x, ref_c);
  ref_fold(&g, ref_c, ref_x);
  tg_tensor *ones = make_spatial(tp, &g, cf->one_d, x);
  tg_tensor *cnt =
      fold_to(tp, tg_unfold(tp, ones, &cf->win), &g, cf->one_d, &cf->win);
  ck_assert_msg(!tgt_failed(tp, cnt, label), "%s: fold(unfold(1)): %s", label,
                tg_errmsg(tp));
  ck_assert(tgt_copy_out(cnt, got_x));
  ck_assert_msg(tgt_close_all(label, got_x, ref_x, nx, 0.0),
                "%s: fold(unfold(ones)) is not the overlap count", label);

  tg_tape_free(tp);
  free(x), free(y), free(ref_c), free(got_c), free(ref_x), free(got_x);
  return true;
}

START_TEST(test_unfold_fold_2d) {
  static const int64_t kernels[4][2] = {{2, 2}, {3, 2}, {1, 3}, {3, 3}};
  static const int64_t shapes[3][4] = {
      {1, 2, 7, 5}, {3, 1, 4, 6}, {2, 3, 5, 5}};
  int tested = 0;
  uint64_t seed = 3000;
  for (int si = 0; si < 3; si++)
    for (int ki = 0; ki < 4; ki++)
      for (int s = 0; s <= 3; s++)
        for (int p = 0; p <= 2; p++)
          for (int d = 0; d <= 2; d++) {
            unf_cfg cf;
            memset(&cf, 0, sizeof cf);
            cf.n = shapes[si][0], cf.c = shapes[si][1];
            cf.h = shapes[si][2], cf.w = shapes[si][3];
            cf.win.kernel[0] = kernels[ki][0];
            cf.win.kernel[1] = kernels[ki][1];
            cf.win.stride[0] = cf.win.stride[1] = s;
            cf.win.padding[0] = cf.win.padding[1] = p;
            cf.win.dilation[0] = cf.win.dilation[1] = d;
            tested += run_unfold_case(&cf, seed++);
          }
  /* asymmetric */
  unf_cfg a;
  memset(&a, 0, sizeof a);
  a.n = 2, a.c = 2, a.h = 7, a.w = 5;
  a.win.kernel[0] = 3, a.win.kernel[1] = 2;
  a.win.stride[0] = 2, a.win.stride[1] = 1;
  a.win.padding[0] = 0, a.win.padding[1] = 2;
  a.win.dilation[0] = 1, a.win.dilation[1] = 2;
  tested += run_unfold_case(&a, seed++);
  ck_assert_int_ge(tested, 300);
}
END_TEST

START_TEST(test_unfold_fold_1d) {
  static const int64_t shapes[3][3] = {{1, 2, 11}, {3, 1, 6}, {2, 3, 5}};
  int tested = 0;
  uint64_t seed = 5000;
  for (int si = 0; si < 3; si++)
    for (int64_t k = 1; k <= 4; k++)
      for (int s = 0; s <= 3; s++)
        for (int p = 0; p <= 2; p++)
          for (int d = 0; d <= 2; d++) {
            unf_cfg cf;
            memset(&cf, 0, sizeof cf);
            cf.one_d = true;
            cf.n = shapes[si][0], cf.c = shapes[si][1], cf.w = shapes[si][2];
            cf.h = 1;
            cf.win.kernel[0] = k;
            cf.win.stride[0] = s;
            cf.win.padding[0] = p;
            cf.win.dilation[0] = d;
            tested += run_unfold_case(&cf, seed++);
          }
  ck_assert_int_ge(tested, 300);
}
END_TEST

/* Stride and dilation 0 mean 1 for unfold. */
START_TEST(test_unfold_zero_stride_means_one) {
  tg_tape *tp = tg_tape_new();
  int64_t s[4] = {1, 2, 4, 5};
  tg_tape_seed(tp, 11);
  tg_tensor *x = tg_rand_uniform(tp, TG_F64, 4, s, -1, 1);
  tg_window a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.kernel[0] = b.kernel[0] = 2, a.kernel[1] = b.kernel[1] = 3;
  b.stride[0] = b.stride[1] = b.dilation[0] = b.dilation[1] = 1;
  tg_tensor *ua = tg_unfold(tp, x, &a), *ub = tg_unfold(tp, x, &b);
  ck_assert(!tgt_failed(tp, ua, "unfold a") && !tgt_failed(tp, ub, "b"));
  int64_t want[3] = {1, 12, 9};
  ck_assert_msg(shape_is(ua, 3, want), "shape %s", shape_of(ua));
  ck_assert(shape_is(ub, 3, want));
  for (int64_t i = 0; i < ua->numel; i++)
    ck_assert_double_eq(tg_get_flat(ua, i), tg_get_flat(ub, i));
  tg_tape_free(tp);
}
END_TEST

/* unfold of a non-contiguous (transposed) input. */
START_TEST(test_unfold_of_a_view) {
  tg_tape *tp = tg_tape_new();
  int64_t s[4] = {2, 3, 5, 4};
  tg_tape_seed(tp, 12);
  tg_tensor *x = tg_rand_uniform(tp, TG_F64, 4, s, -1, 1);
  tg_tensor *xt = tg_transpose(tp, x, 2, 3); /* [2,3,4,5] */
  unf_cfg cf;
  memset(&cf, 0, sizeof cf);
  cf.n = 2, cf.c = 3, cf.h = 4, cf.w = 5;
  cf.win.kernel[0] = 2, cf.win.kernel[1] = 3;
  cf.win.stride[0] = 2, cf.win.padding[1] = 1;
  geom g = unf_geom(&cf);
  double *xv = tgt_read(tg_contiguous(tp, xt));
  ck_assert_ptr_nonnull(xv);
  int64_t n = g.n * g.c * g.kh * g.kw * g.oh * g.ow;
  double *ref = alloc_d(n), *got = alloc_d(n);
  ref_unfold(&g, xv, ref);
  tg_tensor *u = tg_unfold(tp, xt, &cf.win);
  ck_assert(!tgt_failed(tp, u, "unfold of a view"));
  ck_assert_int_eq(u->numel, n);
  ck_assert(tgt_copy_out(u, got));
  ck_assert(tgt_close_all("unfold of a view", got, ref, n, 0.0));
  free(xv), free(ref), free(got);
  tg_tape_free(tp);
}
END_TEST

/* --- gradients: tg_gradcheck and tg_gradgradcheck ------------------------- */

static void expect_gradchecks(const char *label, tg_fn f, void *ud, int n,
                              tg_tensor *const *in) {
  for (int order = 1; order <= 2; order++) {
    tg_gradcheck_report r;
    memset(&r, 0, sizeof r);
    tg_status st = order == 1 ? tg_gradcheck(f, ud, n, in, NULL, &r)
                              : tg_gradgradcheck(f, ud, n, in, NULL, &r);
    const char *name = order == 1 ? "gradcheck" : "gradgradcheck";
    if (st != TG_OK || !r.passed) {
      fprintf(stderr, "%s: %s:\n", label, name);
      tg_gradcheck_fprint(stderr, &r);
    }
    ck_assert_msg(st == TG_OK, "%s: %s could not run: %s", label, name,
                  r.error);
    ck_assert_msg(r.passed, "%s: %s failed", label, name);
  }
}

static tg_tensor *rand_input(tg_tape *tp, int ndim, const int64_t *shape,
                             uint64_t seed) {
  tg_tape_seed(tp, seed);
  return tg_rand_uniform(tp, TG_F64, ndim, shape, -1, 1);
}

typedef struct conv_ud {
  tg_conv_opts opts;
  bool one_d, bias;
} conv_ud;

static tg_tensor *conv_fn(tg_tape *tp, tg_tensor *const *in, void *ud) {
  const conv_ud *u = ud;
  tg_tensor *b = u->bias ? in[2] : NULL;
  return u->one_d ? tg_conv1d(tp, in[0], in[1], b, &u->opts)
                  : tg_conv2d(tp, in[0], in[1], b, &u->opts);
}

START_TEST(test_conv2d_gradients_groups_stride_padding) {
  tg_tape *tp = tg_tape_new();
  conv_ud u;
  memset(&u, 0, sizeof u);
  u.bias = true;
  u.opts.groups = 2;
  u.opts.stride[0] = u.opts.stride[1] = 2;
  u.opts.padding[0] = u.opts.padding[1] = 1;
  int64_t sx[4] = {2, 4, 5, 4}, sw[4] = {6, 2, 3, 2}, sb[1] = {6};
  tg_tensor *in[3] = {rand_input(tp, 4, sx, 1), rand_input(tp, 4, sw, 2),
                      rand_input(tp, 1, sb, 3)};
  expect_gradchecks("conv2d groups 2 stride 2 padding 1", conv_fn, &u, 3, in);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_conv2d_gradients_dilation) {
  tg_tape *tp = tg_tape_new();
  conv_ud u;
  memset(&u, 0, sizeof u);
  u.bias = true;
  u.opts.dilation[0] = u.opts.dilation[1] = 2;
  u.opts.padding[0] = u.opts.padding[1] = 1;
  int64_t sx[4] = {1, 2, 6, 5}, sw[4] = {3, 2, 2, 2}, sb[1] = {3};
  tg_tensor *in[3] = {rand_input(tp, 4, sx, 4), rand_input(tp, 4, sw, 5),
                      rand_input(tp, 1, sb, 6)};
  expect_gradchecks("conv2d dilation 2 padding 1", conv_fn, &u, 3, in);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_conv2d_gradients_no_bias_asymmetric) {
  tg_tape *tp = tg_tape_new();
  conv_ud u;
  memset(&u, 0, sizeof u);
  u.opts.stride[0] = 2, u.opts.stride[1] = 1;
  u.opts.padding[1] = 1;
  u.opts.dilation[1] = 2;
  int64_t sx[4] = {2, 3, 5, 5}, sw[4] = {2, 3, 3, 2};
  tg_tensor *in[2] = {rand_input(tp, 4, sx, 7), rand_input(tp, 4, sw, 8)};
  expect_gradchecks("conv2d no bias, stride 2x1, dilation 1x2", conv_fn, &u, 2,
                    in);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_conv1d_gradients) {
  tg_tape *tp = tg_tape_new();
  conv_ud u;
  memset(&u, 0, sizeof u);
  u.one_d = true;
  u.bias = true;
  u.opts.groups = 2;
  u.opts.stride[0] = 2;
  u.opts.padding[0] = 1;
  u.opts.dilation[0] = 2;
  int64_t sx[3] = {2, 4, 9}, sw[3] = {6, 2, 3}, sb[1] = {6};
  tg_tensor *in[3] = {rand_input(tp, 3, sx, 9), rand_input(tp, 3, sw, 10),
                      rand_input(tp, 1, sb, 11)};
  expect_gradchecks("conv1d groups 2 stride 2 padding 1 dilation 2", conv_fn,
                    &u, 3, in);
  memset(&u, 0, sizeof u);
  u.one_d = true;
  int64_t sx2[3] = {3, 2, 6}, sw2[3] = {3, 2, 2};
  tg_tensor *in2[2] = {rand_input(tp, 3, sx2, 12), rand_input(tp, 3, sw2, 13)};
  expect_gradchecks("conv1d default options, no bias", conv_fn, &u, 2, in2);
  tg_tape_free(tp);
}
END_TEST

typedef struct pool_ud {
  tg_window win;
  bool is_max;
} pool_ud;

static tg_tensor *pool_fn(tg_tape *tp, tg_tensor *const *in, void *ud) {
  const pool_ud *u = ud;
  return u->is_max ? tg_max_pool2d(tp, in[0], &u->win)
                   : tg_avg_pool2d(tp, in[0], &u->win);
}

static tg_tensor *distinct_input(tg_tape *tp, int ndim, const int64_t *shape,
                                 uint64_t seed) {
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  int64_t n = tgt_numel(ndim, shape);
  double *v = distinct_buf(&rng, n, false);
  tg_tensor *t = tg_from_f64(tp, TG_F64, ndim, shape, v);
  free(v);
  return t;
}

START_TEST(test_max_pool2d_gradients) {
  tg_tape *tp = tg_tape_new();
  pool_ud u;
  memset(&u, 0, sizeof u);
  u.is_max = true;
  u.win.kernel[0] = 3, u.win.kernel[1] = 2;
  u.win.padding[0] = u.win.padding[1] = 1; /* stride 0: the kernel */
  int64_t sx[4] = {2, 2, 6, 5};
  tg_tensor *x = distinct_input(tp, 4, sx, 21);
  expect_gradchecks("max_pool2d 3x2 padding 1", pool_fn, &u, 1, &x);

  memset(&u, 0, sizeof u);
  u.is_max = true;
  u.win.kernel[0] = u.win.kernel[1] = 2;
  u.win.stride[0] = u.win.stride[1] = 1; /* overlapping windows */
  u.win.dilation[0] = 2;
  int64_t sx2[4] = {1, 3, 5, 4};
  tg_tensor *x2 = distinct_input(tp, 4, sx2, 22);
  expect_gradchecks("max_pool2d 2x2 stride 1 dilation 2x1", pool_fn, &u, 1,
                    &x2);
  tg_tape_free(tp);
}
END_TEST

/* The gradient of max pooling when windows tie: each window's gradient is
 * shared equally among the positions holding its maximum, overlapping
 * windows adding up; positions no window covers get 0. Inputs are small
 * whole numbers, so most windows tie. Checked for the 2x2-stride-2 kernel
 * (odd sides too) and the general one (overlap, padding, dilation), f32
 * and f64, against a loop written here. */
/* Both linear maps of max pooling, by loops: gx = gy sent to each window's
 * maxima of x (shared among ties, overlapping windows adding up) and its
 * adjoint hy = h read at those maxima (averaged over ties). */
static void ref_max_pool_maps(const geom *g, const double *x, const double *gy,
                              double *gx, const double *h, double *hy) {
  memset(gx, 0, sizeof(double) * (size_t)(g->n * g->c * g->h * g->w));
  for (int64_t p = 0; p < g->n * g->c; p++)
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        int64_t o = (p * g->oh + oy) * g->ow + ox;
        double m = -INFINITY, sum = 0;
        int ties = 0;
        for (int pass = 0; pass < 3; pass++)
          for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
              int64_t iy = oy * g->sh - g->ph + i * g->dh;
              int64_t ix = ox * g->sw - g->pw + j * g->dw;
              if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
              int64_t at = (p * g->h + iy) * g->w + ix;
              if (pass == 0 && x[at] > m) m = x[at];
              if (pass == 1 && x[at] == m) ties++, sum += h[at];
              if (pass == 2 && x[at] == m) gx[at] += gy[o] / ties;
            }
        hy[o] = sum / ties;
      }
}

START_TEST(test_max_pool2d_ties_share_the_gradient) {
  static const int64_t cases[5][8] = {
      /* h, w, kernel, stride, padding, dilation (square) */
      {6, 8, 2, 2, 0, 1, 0, 0},
      {7, 9, 2, 2, 0, 1, 0, 0},
      {6, 7, 3, 2, 1, 1, 0, 0},
      {5, 6, 2, 1, 0, 1, 0, 0},
      {7, 7, 2, 2, 1, 2, 0, 0}};
  for (int ci = 0; ci < 5; ci++)
    for (int f32 = 0; f32 < 2; f32++) {
      tg_window win;
      memset(&win, 0, sizeof win);
      win.kernel[0] = win.kernel[1] = cases[ci][2];
      win.stride[0] = win.stride[1] = cases[ci][3];
      win.padding[0] = win.padding[1] = cases[ci][4];
      win.dilation[0] = win.dilation[1] = cases[ci][5];
      geom g = win_geom(&win, 2, 3, cases[ci][0], cases[ci][1], false, true);
      int64_t nx = g.n * g.c * g.h * g.w, ny = g.n * g.c * g.oh * g.ow;
      double *x = alloc_d(nx), *gy = alloc_d(ny), *want = alloc_d(nx),
             *got = alloc_d(nx);
      tg_rng rng;
      tg_rng_seed(&rng, 40 + (uint64_t)ci);
      for (int64_t i = 0; i < nx; i++)
        x[i] = (double)(tg_rng_u64(&rng) % 3);
      for (int64_t i = 0; i < ny; i++)
        gy[i] = (double)(tg_rng_u64(&rng) % 7) - 3;
      double *hv = alloc_d(nx), *gwant = alloc_d(ny), *ggot = alloc_d(ny);
      for (int64_t i = 0; i < nx; i++)
        hv[i] = (double)(tg_rng_u64(&rng) % 5) - 2;
      ref_max_pool_maps(&g, x, gy, want, hv, gwant);
      tg_tape *tp = tg_tape_new();
      tg_dtype dt = f32 ? TG_F32 : TG_F64;
      int64_t sx[4] = {g.n, g.c, g.h, g.w}, sy[4] = {g.n, g.c, g.oh, g.ow};
      tg_tensor *tx = tg_set_requires_grad(tg_from_f64(tp, dt, 4, sx, x), true);
      tg_tensor *tg =
          tg_set_requires_grad(tg_from_f64(tp, dt, 4, sy, gy), true);
      tg_tensor *y = tg_max_pool2d(tp, tx, &win);
      tg_tensor *loss = tg_sum_all(tp, tg_mul(tp, y, tg));
      tg_tensor *gx = NULL;
      ck_assert_msg(loss &&
                        tg_grad(tp, 1, &loss, NULL, 1, &tx, &gx, true) == TG_OK,
                    "case %d: %s", ci, tg_errmsg(tp));
      ck_assert(tgt_copy_out(gx, got));
      char label[64];
      snprintf(label, sizeof label, "max_pool2d ties, case %d %s", ci,
               f32 ? "f32" : "f64");
      ck_assert_msg(tgt_close_all(label, got, want, nx, 1e-6),
                    "%s: gradients differ", label);
      /* through the gradient again: d<gx, h>/dg is h gathered at the maxima */
      tg_tensor *loss2 =
          tg_sum_all(tp, tg_mul(tp, gx, tg_from_f64(tp, dt, 4, sx, hv)));
      tg_tensor *gg = NULL;
      ck_assert_msg(loss2 && tg_grad(tp, 1, &loss2, NULL, 1, &tg, &gg, false) ==
                                 TG_OK,
                    "case %d: %s", ci, tg_errmsg(tp));
      ck_assert(tgt_copy_out(gg, ggot));
      ck_assert_msg(tgt_close_all(label, ggot, gwant, ny, 1e-6),
                    "%s: second-order gather differs", label);
      tg_tape_free(tp);
      free(x), free(gy), free(want), free(got), free(hv), free(gwant),
          free(ggot);
    }
}
END_TEST

/* A NaN in a window is its maximum, and the window's gradient goes to it. */
START_TEST(test_max_pool2d_nan_is_the_maximum) {
  for (int run = 0; run < 4; run++) {
    int k = 2 + run % 2; /* 2: the 2x2 kernel; 3: the general one */
    tg_dtype dt = run < 2 ? TG_F64 : TG_F32;
    tg_tape *tp = tg_tape_new();
    int64_t s[4] = {1, 1, k, k};
    double v[9] = {1, 5, 2, NAN, 4, 0, 3, 3, 3};
    if (k == 2) v[2] = NAN, v[3] = 2;
    tg_window win;
    memset(&win, 0, sizeof win);
    win.kernel[0] = win.kernel[1] = k;
    tg_tensor *x = tg_set_requires_grad(tg_from_f64(tp, dt, 4, s, v), true);
    tg_tensor *y = tg_max_pool2d(tp, x, &win);
    ck_assert(y && y->numel == 1 && isnan(tg_get_flat(y, 0)));
    ck_assert_int_eq(tg_backward(tp, tg_sum_all(tp, y)), TG_OK);
    for (int i = 0; i < k * k; i++)
      ck_assert_double_eq(tg_get_flat(tg_grad_of(x), i),
                          i == (k == 2 ? 2 : 3) ? 1.0 : 0.0);
    tg_tape_free(tp);
  }
}
END_TEST

/* A dilation near INT64_MAX with a one-element kernel is a valid window;
 * working out which kernel positions fall inside must not overflow (found
 * by fuzz_graph; UBSan in CI would flag it). Windows wholly in the padding
 * give the lowest finite value and no gradient. */
START_TEST(test_max_pool2d_extreme_dilation) {
  tg_tape *tp = tg_tape_new();
  int64_t s[4] = {1, 1, 3, 3};
  double v[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  tg_window win;
  memset(&win, 0, sizeof win);
  win.kernel[0] = win.kernel[1] = 1;
  win.stride[0] = win.stride[1] = 1;
  win.padding[0] = win.padding[1] = 1;
  win.dilation[0] = win.dilation[1] = INT64_MAX;
  tg_tensor *x = tg_set_requires_grad(tg_from_f64(tp, TG_F64, 4, s, v), true);
  tg_tensor *y = tg_max_pool2d(tp, x, &win);
  ck_assert_msg(y != NULL, "%s", tg_errmsg(tp));
  int64_t want[4] = {1, 1, 5, 5};
  ck_assert_msg(shape_is(y, 4, want), "shape %s", shape_of(y));
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 5; j++) {
      bool inside = i >= 1 && i <= 3 && j >= 1 && j <= 3;
      double got = tg_get_flat(y, i * 5 + j);
      if (inside)
        ck_assert_double_eq(got, v[(i - 1) * 3 + (j - 1)]);
      else
        ck_assert_double_eq(got, -DBL_MAX);
    }
  ck_assert_int_eq(tg_backward(tp, tg_sum_all(tp, y)), TG_OK);
  for (int i = 0; i < 9; i++)
    ck_assert_double_eq(tg_get_flat(tg_grad_of(x), i), 1.0);
  tg_tape_free(tp);
}
END_TEST

/* An empty image with padding: every window lies in the padding, so the
 * output is the lowest finite value and the (empty) gradient is zero. */
START_TEST(test_max_pool2d_empty_input) {
  tg_tape *tp = tg_tape_new();
  int64_t s[4] = {2, 1, 0, 3};
  tg_tensor *x = tg_set_requires_grad(tg_zeros(tp, TG_F32, 4, s), true);
  tg_window win;
  memset(&win, 0, sizeof win);
  win.kernel[0] = win.kernel[1] = 2;
  win.padding[0] = win.padding[1] = 1;
  tg_tensor *y = tg_max_pool2d(tp, x, &win); /* stride 2: [2, 1, 1, 2] */
  ck_assert_msg(y != NULL, "%s", tg_errmsg(tp));
  int64_t want[4] = {2, 1, 1, 2};
  ck_assert_msg(shape_is(y, 4, want), "shape %s", shape_of(y));
  for (int i = 0; i < 4; i++)
    ck_assert_double_eq(tg_get_flat(y, i), -FLT_MAX);
  tg_tensor *g = NULL;
  tg_tensor *loss = tg_sum_all(tp, y);
  ck_assert_int_eq(tg_grad(tp, 1, &loss, NULL, 1, &x, &g, false), TG_OK);
  ck_assert(g != NULL && g->numel == 0);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_avg_pool2d_gradients) {
  tg_tape *tp = tg_tape_new();
  pool_ud u;
  memset(&u, 0, sizeof u);
  u.win.kernel[0] = u.win.kernel[1] = 3;
  u.win.stride[0] = u.win.stride[1] = 2;
  u.win.padding[0] = u.win.padding[1] = 1;
  int64_t sx[4] = {2, 2, 5, 5};
  tg_tensor *x = rand_input(tp, 4, sx, 23);
  expect_gradchecks("avg_pool2d 3x3 stride 2 padding 1", pool_fn, &u, 1, &x);
  memset(&u, 0, sizeof u);
  u.win.kernel[0] = 2, u.win.kernel[1] = 3;
  int64_t sx2[4] = {1, 2, 4, 7};
  tg_tensor *x2 = rand_input(tp, 4, sx2, 24);
  expect_gradchecks("avg_pool2d 2x3 default stride", pool_fn, &u, 1, &x2);
  tg_tape_free(tp);
}
END_TEST

typedef struct win_ud {
  tg_window win;
  int n_spatial;
  int64_t out_size[2];
} win_ud;

static tg_tensor *unfold_fn(tg_tape *tp, tg_tensor *const *in, void *ud) {
  const win_ud *u = ud;
  return tg_unfold(tp, in[0], &u->win);
}

static tg_tensor *fold_fn(tg_tape *tp, tg_tensor *const *in, void *ud) {
  const win_ud *u = ud;
  return tg_fold(tp, in[0], u->n_spatial, u->out_size, &u->win);
}

START_TEST(test_unfold_gradients) {
  tg_tape *tp = tg_tape_new();
  win_ud u;
  memset(&u, 0, sizeof u);
  u.win.kernel[0] = 2, u.win.kernel[1] = 3;
  u.win.stride[0] = 2, u.win.stride[1] = 1;
  u.win.padding[0] = u.win.padding[1] = 1;
  u.win.dilation[1] = 2;
  int64_t sx[4] = {1, 2, 5, 4};
  tg_tensor *x = rand_input(tp, 4, sx, 31);
  expect_gradchecks("unfold 2-D", unfold_fn, &u, 1, &x);

  memset(&u, 0, sizeof u);
  u.win.kernel[0] = 3;
  u.win.stride[0] = 2;
  u.win.padding[0] = 2;
  u.win.dilation[0] = 2;
  int64_t s1[3] = {2, 2, 7};
  tg_tensor *x1 = rand_input(tp, 3, s1, 32);
  expect_gradchecks("unfold 1-D", unfold_fn, &u, 1, &x1);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_fold_gradients) {
  tg_tape *tp = tg_tape_new();
  win_ud u;
  memset(&u, 0, sizeof u);
  u.n_spatial = 2;
  u.out_size[0] = 5, u.out_size[1] = 4;
  u.win.kernel[0] = 2, u.win.kernel[1] = 3;
  u.win.stride[0] = 2, u.win.stride[1] = 1;
  u.win.padding[0] = u.win.padding[1] = 1;
  u.win.dilation[1] = 2;
  /* oh = (5 + 2 - 2) / 2 + 1 = 3, ow = (4 + 2 - 5) / 1 + 1 = 2 */
  int64_t sc[3] = {1, 2 * 2 * 3, 6};
  tg_tensor *c = rand_input(tp, 3, sc, 33);
  expect_gradchecks("fold 2-D", fold_fn, &u, 1, &c);

  memset(&u, 0, sizeof u);
  u.n_spatial = 1;
  u.out_size[0] = 7;
  u.win.kernel[0] = 3;
  u.win.stride[0] = 2;
  u.win.padding[0] = 1;
  /* positions (7 + 2 - 3) / 2 + 1 = 4 */
  int64_t s1[3] = {2, 2 * 3, 4};
  tg_tensor *c1 = rand_input(tp, 3, s1, 34);
  expect_gradchecks("fold 1-D", fold_fn, &u, 1, &c1);
  tg_tape_free(tp);
}
END_TEST

/* --- errors --------------------------------------------------------------- */

static tg_tape *etp;

static void err_setup(void) { etp = tg_tape_new(); }
static void err_teardown(void) { tg_tape_free(etp); }

static tg_tensor *zeros(tg_dtype dt, int ndim, int64_t a, int64_t b, int64_t c,
                        int64_t d) {
  int64_t s[4] = {a, b, c, d};
  return tg_zeros(etp, dt, ndim, s);
}
#define Z4(a, b, c, d) zeros(TG_F64, 4, a, b, c, d)
#define Z3(a, b, c) zeros(TG_F64, 3, a, b, c, 0)
#define Z1(a) zeros(TG_F64, 1, a, 0, 0, 0)

#define EXPECT_ERR(call, code, ...)                                            \
  do {                                                                         \
    tg_clear_error(etp);                                                       \
    tg_tensor *r_ = (call);                                                    \
    tgt_expect_err(etp, #call, r_, code, __VA_ARGS__, (const char *)NULL);     \
  } while (0)

/* Like EXPECT_ERR but the message must name one of two functions. */
#define EXPECT_ERR_EITHER(call, code, fa, fb, text)                            \
  do {                                                                         \
    tg_clear_error(etp);                                                       \
    tg_tensor *r_ = (call);                                                    \
    const char *m_ = tg_errmsg(etp);                                           \
    ck_assert_msg(strstr(m_, fa) || strstr(m_, fb),                            \
                  "%s: message \"%s\" names neither %s nor %s", #call, m_, fa, \
                  fb);                                                         \
    tgt_expect_err(etp, #call, r_, code, text, (const char *)NULL);            \
  } while (0)

static tg_conv_opts copts(int64_t stride, int64_t padding, int64_t dilation,
                          int64_t groups) {
  tg_conv_opts o;
  memset(&o, 0, sizeof o);
  o.stride[0] = o.stride[1] = stride;
  o.padding[0] = o.padding[1] = padding;
  o.dilation[0] = o.dilation[1] = dilation;
  o.groups = groups;
  return o;
}

static tg_window wnd(int64_t kh, int64_t kw, int64_t stride, int64_t padding,
                     int64_t dilation) {
  tg_window w;
  memset(&w, 0, sizeof w);
  w.kernel[0] = kh, w.kernel[1] = kw;
  w.stride[0] = w.stride[1] = stride;
  w.padding[0] = w.padding[1] = padding;
  w.dilation[0] = w.dilation[1] = dilation;
  return w;
}

START_TEST(test_error_kernel_larger_than_padded_input) {
  tg_conv_opts o = copts(0, 0, 0, 0);
  EXPECT_ERR_EITHER(tg_conv2d(etp, Z4(1, 1, 3, 3), Z4(1, 1, 5, 5), NULL, &o),
                    TG_ERR_SHAPE, "tg_conv2d", "tg_unfold", "kernel");
  /* dilation makes a 3-tap kernel span 5 */
  tg_conv_opts od = copts(0, 0, 2, 0);
  EXPECT_ERR_EITHER(tg_conv2d(etp, Z4(1, 1, 4, 4), Z4(1, 1, 3, 3), NULL, &od),
                    TG_ERR_SHAPE, "tg_conv2d", "tg_unfold", "kernel");
  EXPECT_ERR_EITHER(tg_conv1d(etp, Z3(1, 1, 3), Z3(1, 1, 5), NULL, &o),
                    TG_ERR_SHAPE, "tg_conv1d", "tg_unfold", "kernel");
  tg_window w = wnd(5, 5, 0, 0, 0);
  EXPECT_ERR(tg_unfold(etp, Z4(1, 1, 3, 3), &w), TG_ERR_SHAPE, "tg_unfold",
             "kernel");
  tg_window w1 = wnd(4, 0, 0, 0, 0);
  EXPECT_ERR(tg_unfold(etp, Z3(1, 1, 3), &w1), TG_ERR_SHAPE, "tg_unfold",
             "kernel");
  tg_window wp = wnd(4, 4, 0, 0, 0);
  EXPECT_ERR_EITHER(tg_max_pool2d(etp, Z4(1, 1, 3, 3), &wp), TG_ERR_SHAPE,
                    "tg_max_pool2d", "tg_unfold", "kernel");
  EXPECT_ERR_EITHER(tg_avg_pool2d(etp, Z4(1, 1, 3, 3), &wp), TG_ERR_SHAPE,
                    "tg_avg_pool2d", "tg_unfold", "kernel");
  /* only one axis too small */
  tg_window wh = wnd(2, 4, 1, 0, 1);
  EXPECT_ERR(tg_unfold(etp, Z4(1, 1, 5, 3), &wh), TG_ERR_SHAPE, "tg_unfold",
             "kernel");
}
END_TEST

START_TEST(test_error_channel_mismatch) {
  tg_conv_opts o = copts(0, 0, 0, 0);
  EXPECT_ERR(tg_conv2d(etp, Z4(1, 3, 5, 5), Z4(2, 2, 3, 3), NULL, &o),
             TG_ERR_SHAPE, "tg_conv2d", "channels");
  EXPECT_ERR(tg_conv1d(etp, Z3(1, 3, 8), Z3(2, 2, 3), NULL, &o), TG_ERR_SHAPE,
             "tg_conv1d", "channels");
  /* with groups 2, w must have C/2 = 2 input channels, not 4 */
  tg_conv_opts og = copts(0, 0, 0, 2);
  EXPECT_ERR(tg_conv2d(etp, Z4(1, 4, 5, 5), Z4(2, 4, 3, 3), NULL, &og),
             TG_ERR_SHAPE, "tg_conv2d", "channels");
}
END_TEST

START_TEST(test_error_groups) {
  /* groups 3 does not divide C = 4 */
  tg_conv_opts o3 = copts(0, 0, 0, 3);
  EXPECT_ERR(tg_conv2d(etp, Z4(1, 4, 5, 5), Z4(3, 1, 3, 3), NULL, &o3), TG_OK,
             "tg_conv2d");
  /* groups 2 does not divide O = 3 */
  tg_conv_opts o2 = copts(0, 0, 0, 2);
  EXPECT_ERR(tg_conv2d(etp, Z4(1, 4, 5, 5), Z4(3, 2, 3, 3), NULL, &o2), TG_OK,
             "tg_conv2d");
  EXPECT_ERR(tg_conv1d(etp, Z3(1, 4, 5), Z3(3, 2, 3), NULL, &o2), TG_OK,
             "tg_conv1d");
  /* negative groups */
  tg_conv_opts on = copts(0, 0, 0, -2);
  EXPECT_ERR(tg_conv2d(etp, Z4(1, 4, 5, 5), Z4(2, 2, 3, 3), NULL, &on), TG_OK,
             "tg_conv2d");
}
END_TEST

START_TEST(test_error_wrong_ndim) {
  tg_conv_opts o = copts(0, 0, 0, 0);
  EXPECT_ERR(tg_conv2d(etp, Z3(4, 5, 5), Z4(2, 4, 3, 3), NULL, &o), TG_OK,
             "tg_conv2d");
  EXPECT_ERR(tg_conv2d(etp, Z4(1, 4, 5, 5), Z3(2, 4, 3), NULL, &o), TG_OK,
             "tg_conv2d");
  EXPECT_ERR(tg_conv1d(etp, Z4(1, 4, 5, 5), Z3(2, 4, 3), NULL, &o), TG_OK,
             "tg_conv1d");
  EXPECT_ERR(tg_conv1d(etp, Z3(1, 4, 5), Z4(2, 4, 3, 1), NULL, &o), TG_OK,
             "tg_conv1d");
  tg_window w = wnd(2, 2, 0, 0, 0);
  EXPECT_ERR(tg_max_pool2d(etp, Z3(1, 4, 5), &w), TG_OK, "tg_max_pool2d");
  EXPECT_ERR(tg_avg_pool2d(etp, Z3(1, 4, 5), &w), TG_OK, "tg_avg_pool2d");
  int64_t s2[2] = {3, 4};
  EXPECT_ERR(tg_unfold(etp, tg_zeros(etp, TG_F64, 2, s2), &w), TG_OK,
             "tg_unfold");
  /* fold: cols must be 3-D, n_spatial 1 or 2 */
  int64_t out[3] = {3, 3, 3};
  EXPECT_ERR(tg_fold(etp, Z4(1, 4, 4, 1), 2, out, &w), TG_OK, "tg_fold");
  EXPECT_ERR(tg_fold(etp, Z3(1, 4, 4), 3, out, &w), TG_OK, "tg_fold");
  EXPECT_ERR(tg_fold(etp, Z3(1, 4, 4), 0, out, &w), TG_OK, "tg_fold");
}
END_TEST

START_TEST(test_error_bias_and_dtypes) {
  tg_conv_opts o = copts(0, 0, 0, 0);
  EXPECT_ERR(tg_conv2d(etp, Z4(1, 2, 5, 5), Z4(3, 2, 3, 3), Z1(4), &o), TG_OK,
             "tg_conv2d");
  EXPECT_ERR(tg_conv1d(etp, Z3(1, 2, 5), Z3(3, 2, 3), Z1(2), &o), TG_OK,
             "tg_conv1d");
  EXPECT_ERR(
      tg_conv2d(etp, zeros(TG_F32, 4, 1, 2, 5, 5), Z4(3, 2, 3, 3), NULL, &o),
      TG_OK, "tg_conv2d");
}
END_TEST

START_TEST(test_error_fold_shapes) {
  tg_window w = wnd(2, 2, 1, 0, 1);
  int64_t out[2] = {3, 3}; /* 2x2 positions, rows C*4 */
  /* wrong number of positions */
  EXPECT_ERR(tg_fold(etp, Z3(1, 4, 5), 2, out, &w), TG_OK, "tg_fold");
  /* rows not a multiple of the kernel area */
  EXPECT_ERR(tg_fold(etp, Z3(1, 5, 4), 2, out, &w), TG_OK, "tg_fold");
  /* kernel larger than the padded output */
  tg_window big = wnd(5, 5, 1, 0, 1);
  EXPECT_ERR(tg_fold(etp, Z3(1, 25, 1), 2, out, &big), TG_OK, "tg_fold");
}
END_TEST

START_TEST(test_error_null_inputs) {
  tg_conv_opts o = copts(0, 0, 0, 0);
  tg_window w = wnd(2, 2, 0, 0, 0);
  int64_t out[2] = {3, 3};
  EXPECT_ERR(tg_conv2d(etp, NULL, Z4(2, 2, 3, 3), NULL, &o), TG_ERR_NULL,
             "tg_conv2d");
  EXPECT_ERR(tg_conv2d(etp, Z4(1, 2, 5, 5), NULL, Z1(2), &o), TG_ERR_NULL,
             "tg_conv2d");
  EXPECT_ERR(tg_conv1d(etp, NULL, Z3(2, 2, 3), NULL, &o), TG_ERR_NULL,
             "tg_conv1d");
  EXPECT_ERR(tg_conv1d(etp, Z3(1, 2, 5), NULL, NULL, &o), TG_ERR_NULL,
             "tg_conv1d");
  EXPECT_ERR(tg_max_pool2d(etp, NULL, &w), TG_ERR_NULL, "tg_max_pool2d");
  EXPECT_ERR(tg_avg_pool2d(etp, NULL, &w), TG_ERR_NULL, "tg_avg_pool2d");
  EXPECT_ERR(tg_unfold(etp, NULL, &w), TG_ERR_NULL, "tg_unfold");
  EXPECT_ERR(tg_fold(etp, NULL, 2, out, &w), TG_ERR_NULL, "tg_fold");
}
END_TEST

/* A missing window or output size is an error, not a crash. */
START_TEST(test_error_null_window) {
  int64_t out[2] = {3, 3};
  tg_window w = wnd(2, 2, 1, 0, 1);
  EXPECT_ERR(tg_unfold(etp, Z4(1, 1, 3, 3), NULL), TG_OK, "tg_unfold");
  EXPECT_ERR(tg_fold(etp, Z3(1, 4, 4), 2, out, NULL), TG_OK, "tg_fold");
  EXPECT_ERR(tg_fold(etp, Z3(1, 4, 4), 2, NULL, &w), TG_OK, "tg_fold");
  EXPECT_ERR(tg_max_pool2d(etp, Z4(1, 1, 3, 3), NULL), TG_OK, "tg_max_pool2d");
  EXPECT_ERR(tg_avg_pool2d(etp, Z4(1, 1, 3, 3), NULL), TG_OK, "tg_avg_pool2d");
}
END_TEST

/* A kernel of size 0 or a negative padding makes no window. */
START_TEST(test_error_degenerate_window) {
  tg_window k0 = wnd(0, 2, 1, 0, 1);
  EXPECT_ERR(tg_unfold(etp, Z4(1, 1, 3, 3), &k0), TG_OK, "tg_unfold");
  tg_window neg = wnd(2, 2, 1, -1, 1);
  EXPECT_ERR(tg_unfold(etp, Z4(1, 1, 4, 4), &neg), TG_OK, "tg_unfold");
  tg_conv_opts o = copts(1, -1, 1, 1);
  EXPECT_ERR_EITHER(tg_conv2d(etp, Z4(1, 1, 4, 4), Z4(1, 1, 2, 2), NULL, &o),
                    TG_OK, "tg_conv2d", "tg_unfold", "padding");
}
END_TEST

static Suite *windows_suite(void) {
  Suite *s = suite_create("windows");
  TCase *tc = tcase_create("forward");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_conv2d_matches_loops_f64);
  tcase_add_test(tc, test_conv2d_matches_loops_f32);
  tcase_add_test(tc, test_conv2d_kernel_fits_with_padding);
  tcase_add_test(tc, test_conv1d_matches_loops_f64);
  tcase_add_test(tc, test_conv1d_matches_loops_f32);
  tcase_add_test(tc, test_max_pool2d_matches_loops_f64);
  tcase_add_test(tc, test_max_pool2d_matches_loops_f32);
  tcase_add_test(tc, test_max_pool2d_with_dilation);
  tcase_add_test(tc, test_avg_pool2d_matches_loops_f64);
  tcase_add_test(tc, test_avg_pool2d_matches_loops_f32);
  tcase_add_test(tc, test_avg_pool2d_with_dilation);
  tcase_add_test(tc, test_max_pool2d_padding_is_minus_infinity);
  tcase_add_test(tc, test_pool_stride_zero_means_kernel);
  tcase_add_test(tc, test_conv_and_pools_of_permuted_views);
  tcase_add_test(tc, test_unfold_fold_2d);
  tcase_add_test(tc, test_unfold_fold_1d);
  tcase_add_test(tc, test_unfold_zero_stride_means_one);
  tcase_add_test(tc, test_unfold_of_a_view);
  suite_add_tcase(s, tc);

  TCase *tg = tcase_create("gradients");
  tcase_set_timeout(tg, 300);
  tcase_add_test(tg, test_conv2d_gradients_groups_stride_padding);
  tcase_add_test(tg, test_conv2d_gradients_dilation);
  tcase_add_test(tg, test_conv2d_gradients_no_bias_asymmetric);
  tcase_add_test(tg, test_conv1d_gradients);
  tcase_add_test(tg, test_max_pool2d_gradients);
  tcase_add_test(tg, test_max_pool2d_ties_share_the_gradient);
  tcase_add_test(tg, test_max_pool2d_nan_is_the_maximum);
  tcase_add_test(tg, test_max_pool2d_extreme_dilation);
  tcase_add_test(tg, test_max_pool2d_empty_input);
  tcase_add_test(tg, test_avg_pool2d_gradients);
  tcase_add_test(tg, test_unfold_gradients);
  tcase_add_test(tg, test_fold_gradients);
  suite_add_tcase(s, tg);

  TCase *te = tcase_create("errors");
  tcase_add_checked_fixture(te, err_setup, err_teardown);
  tcase_set_timeout(te, 300);
  tcase_add_test(te, test_error_kernel_larger_than_padded_input);
  tcase_add_test(te, test_error_channel_mismatch);
  tcase_add_test(te, test_error_groups);
  tcase_add_test(te, test_error_wrong_ndim);
  tcase_add_test(te, test_error_bias_and_dtypes);
  tcase_add_test(te, test_error_fold_shapes);
  tcase_add_test(te, test_error_null_inputs);
  tcase_add_test(te, test_error_null_window);
  tcase_add_test(te, test_error_degenerate_window);
  suite_add_tcase(s, te);
  return s;
}

int main(void) { return tgt_run_suite(windows_suite()); }
