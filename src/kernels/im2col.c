/* im2col and col2im over contiguous NCHW data (1-D is H = 1). The rows of
 * the column matrix are (c, ki, kj); each row is written (or read) as one
 * contiguous run of output positions, and for stride 1 the interior of each
 * output row is a straight copy. */
#include <string.h>

#include "kernels.h"

/* The output columns ox whose input column ix = ox*s - p + kj*d lies in
 * [0, w): [*lo, *hi). */
static void valid_range(int64_t ow, int64_t w, int64_t s, int64_t p,
                        int64_t off, int64_t *lo, int64_t *hi) {
  /* ix = ox*s + (off - p) >= 0  <=>  ox >= ceil((p - off) / s) */
  int64_t base = off - p;
  /* ceil(a / s) for a > 0 as (a - 1) / s + 1: a stride near INT64_MAX
   * (one window position) must not overflow a + s - 1. */
  int64_t l = base >= 0 ? 0 : (-base - 1) / s + 1;
  /* ix < w  <=>  ox < ceil((w - base) / s) */
  int64_t h = w - base <= 0 ? 0 : (w - base - 1) / s + 1;
  if (h > ow) h = ow;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

#define IM2COL_BODY(T)                                                         \
  do {                                                                         \
    const T *x = xv;                                                           \
    T *cols = cv;                                                              \
    int64_t L = oh * ow, rows = c * kh * kw;                                   \
    for (int64_t b = b0; b < b1; b++) {                                        \
      for (int64_t r = 0; r < rows; r++) {                                     \
        int64_t ch = r / (kh * kw), ki = (r / kw) % kh, kj = r % kw;           \
        const T *plane = x + (b * c + ch) * h * w;                             \
        T *out = cols + (b * rows + r) * L;                                    \
        int64_t lo, hi;                                                        \
        valid_range(ow, w, sw, pw, kj *dw, &lo, &hi);                          \
        for (int64_t oy = 0; oy < oh; oy++) {                                  \
          int64_t iy = oy * sh - ph + ki * dh;                                 \
          T *o = out + oy * ow;                                                \
          if (iy < 0 || iy >= h) {                                             \
            memset(o, 0, sizeof(T) * (size_t)ow);                              \
            continue;                                                          \
          }                                                                    \
          const T *row = plane + iy * w;                                       \
          int64_t shift = kj * dw - pw; /* input column of ox = 0 */           \
          for (int64_t ox = 0; ox < lo; ox++)                                  \
            o[ox] = 0;                                                         \
          if (sw == 1) {                                                       \
            memcpy(o + lo, row + lo + shift, sizeof(T) * (size_t)(hi - lo));   \
          } else if (sw == 2 && hi > lo) { /* pooling: a constant stride */    \
            const T *restrict src = row + 2 * lo + shift;                      \
            T *restrict dst = o + lo;                                          \
            for (int64_t k = 0; k < hi - lo; k++)                              \
              dst[k] = src[2 * k];                                             \
          } else {                                                             \
            for (int64_t ox = lo; ox < hi; ox++)                               \
              o[ox] = row[ox * sw + shift];                                    \
          }                                                                    \
          for (int64_t ox = hi; ox < ow; ox++)                                 \
            o[ox] = 0;                                                         \
        }                                                                      \
      }                                                                        \
    }                                                                          \
  } while (0)

#define COL2IM_BODY(T)                                                         \
  do {                                                                         \
    T *x = xv;                                                                 \
    const T *cols = cv;                                                        \
    int64_t L = oh * ow, rows = c * kh * kw;                                   \
    memset(x + b0 * c * h * w, 0,                                              \
           sizeof(T) * (size_t)((b1 - b0) * c * h * w));                       \
    for (int64_t b = b0; b < b1; b++) {                                        \
      for (int64_t r = 0; r < rows; r++) {                                     \
        int64_t ch = r / (kh * kw), ki = (r / kw) % kh, kj = r % kw;           \
        T *plane = x + (b * c + ch) * h * w;                                   \
        const T *in = cols + (b * rows + r) * L;                               \
        int64_t lo, hi;                                                        \
        valid_range(ow, w, sw, pw, kj *dw, &lo, &hi);                          \
        for (int64_t oy = 0; oy < oh; oy++) {                                  \
          int64_t iy = oy * sh - ph + ki * dh;                                 \
          if (iy < 0 || iy >= h) continue;                                     \
          const T *i = in + oy * ow;                                           \
          T *row = plane + iy * w;                                             \
          int64_t shift = kj * dw - pw;                                        \
          if (hi <= lo) continue;                                              \
          if (sw == 1) { /* a contiguous run: vectorised */                    \
            T *restrict dst = row + lo + shift;                                \
            const T *restrict src = i + lo;                                    \
            for (int64_t k = 0; k < hi - lo; k++)                              \
              dst[k] += src[k];                                                \
          } else if (sw == 2) {                                                \
            T *restrict dst = row + 2 * lo + shift;                            \
            const T *restrict src = i + lo;                                    \
            for (int64_t k = 0; k < hi - lo; k++)                              \
              dst[2 * k] += src[k];                                            \
          } else {                                                             \
            for (int64_t ox = lo; ox < hi; ox++)                               \
              row[ox * sw + shift] += i[ox];                                   \
          }                                                                    \
        }                                                                      \
      }                                                                        \
    }                                                                          \
  } while (0)

typedef struct window_job {
  tg_dtype dt;
  const tg_k_window *win;
  const void *in;
  void *out;
} window_job;

/* Images [b0, b1) of the batch: each writes only its own columns (im2col)
 * or its own image (col2im), so images can be shared out over threads. */
static void im2col_images(void *ctx, int64_t b0, int64_t b1) {
  const window_job *j = ctx;
  const tg_k_window *win = j->win;
  const void *xv = j->in;
  void *cv = j->out;
  int64_t n = win->n, c = win->c, h = win->h, w = win->w, oh = win->oh,
          ow = win->ow, kh = win->kh, kw = win->kw, sh = win->sh, sw = win->sw,
          ph = win->ph, pw = win->pw, dh = win->dh, dw = win->dw;
  (void)n;
  if (j->dt == TG_F32)
    IM2COL_BODY(float);
  else
    IM2COL_BODY(double);
}

static void col2im_images(void *ctx, int64_t b0, int64_t b1) {
  const window_job *j = ctx;
  const tg_k_window *win = j->win;
  const void *cv = j->in;
  void *xv = j->out;
  int64_t n = win->n, c = win->c, h = win->h, w = win->w, oh = win->oh,
          ow = win->ow, kh = win->kh, kw = win->kw, sh = win->sh, sw = win->sw,
          ph = win->ph, pw = win->pw, dh = win->dh, dw = win->dw;
  (void)n;
  if (j->dt == TG_F32)
    COL2IM_BODY(float);
  else
    COL2IM_BODY(double);
}

/* Images per chunk so that a chunk moves at least this many elements. */
static int64_t images_per_chunk(const tg_k_window *win) {
  int64_t per_image = win->c * win->kh * win->kw * win->oh * win->ow;
  int64_t g = per_image > 0 ? (1 << 16) / per_image : 1;
  return g < 1 ? 1 : g;
}

void tg_k_im2col(tg_dtype dt, const tg_k_window *win, const void *xv,
                 void *cv) {
  window_job j = {dt, win, xv, cv};
  tg_k_parallel_for(win->n, images_per_chunk(win), im2col_images, &j);
}

void tg_k_col2im(tg_dtype dt, const tg_k_window *win, const void *cv,
                 void *xv) {
  window_job j = {dt, win, cv, xv};
  tg_k_parallel_for(win->n, images_per_chunk(win), col2im_images, &j);
}
