/* Max pooling read straight from NCHW data (1-D is H = 1), without copying
 * windows out: the maximum of each window, and the two linear maps that
 * follow its choice. Every window's maximum is found again by each kernel;
 * when several positions hold it (ties), each gets an equal share. A NaN
 * counts as the maximum, so it propagates as it would through max(). */
#include <float.h>
#include <string.h>

#include "kernels.h"

/* The kernel indices k of output position o whose input index
 * o*s - p + k*d lies in [0, size): [*lo, *hi). */
static void kernel_range(int64_t o, int64_t s, int64_t p, int64_t d, int64_t k,
                         int64_t size, int64_t *lo, int64_t *hi) {
  int64_t base = o * s - p; /* input index of kernel index 0 */
  /* ceil(a / d) for a > 0 as (a - 1) / d + 1: a + d - 1 could overflow for
   * a dilation near INT64_MAX */
  int64_t l = base >= 0 ? 0 : (-base - 1) / d + 1;
  int64_t h = base >= size ? 0 : (size - base - 1) / d + 1;
  if (h > k) h = k;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* The output positions o whose whole window o*s - p + [0, span] lies in
 * [0, size): [*lo, *hi) (empty when there are none). */
static void interior(int64_t n_out, int64_t s, int64_t p, int64_t span,
                     int64_t size, int64_t *lo, int64_t *hi) {
  int64_t l = p > 0 ? (p - 1) / s + 1 : 0; /* o*s >= p, without p + s - 1 */
  int64_t room = size - 1 - span + p;      /* o*s <= room */
  int64_t h = room < 0 ? 0 : room / s + 1;
  if (h > n_out) h = n_out;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* v takes over from the maximum m so far (a NaN takes over from a number) */
#define BEATS(v, m) ((v) > (m) || ((v) != (v) && (m) == (m)))
/* v shares the maximum m */
#define TIES(v, m) ((v) == (m) || ((v) != (v) && (m) != (m)))

#define POOL_BODY(T, LOWEST)                                                   \
  do {                                                                         \
    const T *xs = xv;                                                          \
    const T *src = sv; /* g (scatter) or h (gather), like y or x */            \
    T *dst = dv;                                                               \
    int64_t planes = win->n * win->c, hw = win->h * win->w,                    \
            ohw = win->oh * win->ow;                                           \
    if (mode == TG_K_POOL_SCATTER && planes * hw > 0)                          \
      memset(dst, 0, sizeof(T) * (size_t)(planes * hw));                       \
    int64_t in_lo, in_hi; /* the output columns whose windows lie inside */    \
    interior(win->ow, win->sw, win->pw, (win->kw - 1) * win->dw, win->w,       \
             &in_lo, &in_hi);                                                  \
    for (int64_t pl = 0; pl < planes; pl++) {                                  \
      const T *x = xs + pl * hw;                                               \
      for (int64_t oy = 0; oy < win->oh; oy++) {                               \
        int64_t ylo, yhi;                                                      \
        kernel_range(oy, win->sh, win->ph, win->dh, win->kh, win->h, &ylo,     \
                     &yhi);                                                    \
        int64_t y0 = oy * win->sh - win->ph;                                   \
        for (int64_t ox = 0; ox < win->ow; ox++) {                             \
          int64_t xlo = 0, xhi = win->kw;                                      \
          if (ox < in_lo || ox >= in_hi)                                       \
            kernel_range(ox, win->sw, win->pw, win->dw, win->kw, win->w, &xlo, \
                         &xhi);                                                \
          int64_t x0 = ox * win->sw - win->pw,                                 \
                  o = pl * ohw + oy * win->ow + ox;                            \
          T m = LOWEST;                                                        \
          int64_t ties = 0, at = 0;                                            \
          for (int64_t ki = ylo; ki < yhi; ki++) {                             \
            const T *row = x + (y0 + ki * win->dh) * win->w + x0;              \
            for (int64_t kj = xlo; kj < xhi; kj++) {                           \
              T v = row[kj * win->dw];                                         \
              if (!ties || BEATS(v, m)) {                                      \
                m = v;                                                         \
                ties = 1;                                                      \
                at = row + kj * win->dw - x;                                   \
              } else if (TIES(v, m)) {                                         \
                ties++;                                                        \
              }                                                                \
            }                                                                  \
          }                                                                    \
          if (mode == TG_K_POOL_MAX) {                                         \
            dst[o] = m;                                                        \
          } else if (ties == 1) {                                              \
            if (mode == TG_K_POOL_GATHER)                                      \
              dst[o] = src[pl * hw + at];                                      \
            else                                                               \
              dst[pl * hw + at] += src[o];                                     \
          } else if (ties > 1) {                                               \
            T share = mode == TG_K_POOL_SCATTER ? src[o] / (T)ties : 0,        \
              sum = 0;                                                         \
            for (int64_t ki = ylo; ki < yhi; ki++) {                           \
              int64_t r = (y0 + ki * win->dh) * win->w + x0;                   \
              for (int64_t kj = xlo; kj < xhi; kj++) {                         \
                int64_t i = r + kj * win->dw;                                  \
                if (!TIES(x[i], m)) continue;                                  \
                if (mode == TG_K_POOL_GATHER)                                  \
                  sum += src[pl * hw + i];                                     \
                else                                                           \
                  dst[pl * hw + i] += share;                                   \
              }                                                                \
            }                                                                  \
            if (mode == TG_K_POOL_GATHER) dst[o] = sum / (T)ties;              \
          } else if (mode == TG_K_POOL_GATHER) { /* a window all padding */    \
            dst[o] = 0;                                                        \
          }                                                                    \
        }                                                                      \
      }                                                                        \
    }                                                                          \
  } while (0)

/* The common window, 2x2 at stride 2 without padding or dilation: no
 * ranges to work out, and the scatter writes every position of a window
 * (zeros besides the maximum), so only the rows and columns no window
 * covers need clearing. */
/* Forms of BEATS and TIES for the 2x2 loops that GCC vectorises (found by
 * trial: other spellings are not): any NaN takes over (the result is the
 * same NaN-or-maximum as BEATS gives); SHARES is 1 or 0 in the data's
 * type. */
#define TAKE(v, m) (((v) > (m)) | ((v) != (v)))
#define SHARES(v, m) ((v) == (m) || ((v) != (v) && (m) != (m)) ? 1 : 0)

#define POOL2_BODY(T)                                                          \
  do {                                                                         \
    const T *xs = xv, *src = sv;                                               \
    T *dst = dv;                                                               \
    int64_t h = win->h, w = win->w, oh = win->oh, ow = win->ow;                \
    for (int64_t pl = 0; pl < win->n * win->c; pl++) {                         \
      for (int64_t oy = 0; oy < oh; oy++) {                                    \
        int64_t o = (pl * oh + oy) * ow, i = pl * h * w + 2 * oy * w;          \
        const T *restrict r0 = xs + i, *restrict r1 = r0 + w;                  \
        const T *restrict s0 = !src                       ? NULL               \
                               : mode == TG_K_POOL_GATHER ? src + i            \
                                                          : src + o;           \
        const T *restrict s1 = s0 ? s0 + w : NULL; /* (no NULL + offset) */    \
        T *restrict d0 = mode == TG_K_POOL_SCATTER ? dst + i : dst + o;        \
        T *restrict d1 = d0 + w;                                               \
        for (int64_t ox = 0; ox < ow; ox++) {                                  \
          T a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox],                \
            d = r1[2 * ox + 1], m = a;                                         \
          m = TAKE(b, m) ? b : m;                                              \
          m = TAKE(c, m) ? c : m;                                              \
          m = TAKE(d, m) ? d : m;                                              \
          if (mode == TG_K_POOL_MAX) {                                         \
            d0[ox] = m;                                                        \
          } else {                                                             \
            T ta = SHARES(a, m), tb = SHARES(b, m), tc = SHARES(c, m),         \
              td = SHARES(d, m), ties = ta + tb + tc + td;                     \
            if (mode == TG_K_POOL_GATHER) {                                    \
              T ha = s0[2 * ox], hb = s0[2 * ox + 1], hc = s1[2 * ox],         \
                hd = s1[2 * ox + 1];                                           \
              d0[ox] = ((ta != 0 ? ha : 0) + (tb != 0 ? hb : 0) +              \
                        (tc != 0 ? hc : 0) + (td != 0 ? hd : 0)) /             \
                       ties;                                                   \
            } else {                                                           \
              T share = s0[ox] / ties;                                         \
              d0[2 * ox] = ta != 0 ? share : 0;                                \
              d0[2 * ox + 1] = tb != 0 ? share : 0;                            \
              d1[2 * ox] = tc != 0 ? share : 0;                                \
              d1[2 * ox + 1] = td != 0 ? share : 0;                            \
            }                                                                  \
          }                                                                    \
        }                                                                      \
        if (mode == TG_K_POOL_SCATTER &&                                       \
            w > 2 * ow) { /* an odd last column */                             \
          d0[2 * ow] = 0;                                                      \
          d1[2 * ow] = 0;                                                      \
        }                                                                      \
      }                                                                        \
      if (mode == TG_K_POOL_SCATTER && h > 2 * oh) /* an odd last row */       \
        memset(dst + pl * h * w + 2 * oh * w, 0, sizeof(T) * (size_t)w);       \
    }                                                                          \
  } while (0)

/* One function per mode, so that each inner loop is free of the others. */
#define POOL2_FN(name, MODE)                                                   \
  static void name(tg_dtype dt, const tg_k_window *win, const void *xv,        \
                   const void *sv, void *dv) {                                 \
    const tg_k_pool_mode mode = MODE;                                          \
    if (dt == TG_F32)                                                          \
      POOL2_BODY(float);                                                       \
    else                                                                       \
      POOL2_BODY(double);                                                      \
  }
POOL2_FN(pool2_max, TG_K_POOL_MAX)
POOL2_FN(pool2_gather, TG_K_POOL_GATHER)
POOL2_FN(pool2_scatter, TG_K_POOL_SCATTER)

static void pool(tg_k_pool_mode mode, tg_dtype dt, const tg_k_window *win,
                 const void *xv, const void *sv, void *dv) {
  bool two = win->kh == 2 && win->kw == 2 && win->sh == 2 && win->sw == 2 &&
             !win->ph && !win->pw && win->dh == 1 && win->dw == 1 &&
             win->h - 2 * win->oh <= 1 && win->w - 2 * win->ow <= 1;
#if defined(__x86_64__)
  /* AVX2 where the vector maths may use it (TAPEGRAD_VMATH=scalar keeps
   * this to plain C too) */
  if (two && dt == TG_F32 && strcmp(tg_k_vmath_isa(), "scalar") != 0) {
    tg_k_pool2_f32_avx2(mode, win, xv, sv, dv);
    return;
  }
#endif
  if (two && mode == TG_K_POOL_MAX)
    pool2_max(dt, win, xv, sv, dv);
  else if (two && mode == TG_K_POOL_GATHER)
    pool2_gather(dt, win, xv, sv, dv);
  else if (two)
    pool2_scatter(dt, win, xv, sv, dv);
  else if (dt == TG_F32)
    POOL_BODY(float, -FLT_MAX);
  else
    POOL_BODY(double, -DBL_MAX);
}

typedef struct pool_job {
  tg_k_pool_mode mode;
  tg_dtype dt;
  const tg_k_window *win;
  const char *x, *s;
  char *d;
} pool_job;

/* Planes (image, channel) [lo, hi): each reads and writes only its own, so
 * planes can be shared out over threads. */
static void pool_planes(void *ctx, int64_t lo, int64_t hi) {
  const pool_job *j = ctx;
  tg_k_window w = *j->win;
  w.n = hi - lo;
  w.c = 1;
  size_t es = j->dt == TG_F32 ? 4 : 8;
  size_t in = (size_t)(w.h * w.w) * es, out = (size_t)(w.oh * w.ow) * es;
  const char *s = NULL;
  if (j->s) s = j->s + (size_t)lo * (j->mode == TG_K_POOL_GATHER ? in : out);
  pool(j->mode, j->dt, &w, j->x + (size_t)lo * in, s,
       j->d + (size_t)lo * (j->mode == TG_K_POOL_SCATTER ? in : out));
}

static void pool_parallel(tg_k_pool_mode mode, tg_dtype dt,
                          const tg_k_window *win, const void *x, const void *s,
                          void *d) {
  pool_job j = {mode, dt, win, x, s, d};
  int64_t plane = win->h * win->w;
  int64_t grain = plane > 0 && plane < (1 << 15) ? (1 << 15) / plane : 1;
  tg_k_parallel_for(win->n * win->c, grain, pool_planes, &j);
}

void tg_k_max_pool(tg_dtype dt, const tg_k_window *win, const void *x,
                   void *y) {
  pool_parallel(TG_K_POOL_MAX, dt, win, x, NULL, y);
}

void tg_k_max_pool_gather(tg_dtype dt, const tg_k_window *win, const void *x,
                          const void *h, void *y) {
  pool_parallel(TG_K_POOL_GATHER, dt, win, x, h, y);
}

void tg_k_max_pool_scatter(tg_dtype dt, const tg_k_window *win, const void *x,
                           const void *g, void *out) {
  pool_parallel(TG_K_POOL_SCATTER, dt, win, x, g, out);
}
