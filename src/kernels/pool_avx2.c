/* The 2x2-stride-2 max pooling kernel of pool.c for f32, with AVX2: eight
 * windows a step, and the last step of each row masked, so that short rows
 * (13 or 5 windows in F1) do not fall back to scalar code. Compiled with
 * -mavx2 and called only when the processor has it (pool.c). */
#include <immintrin.h>

#include "kernels.h"

/* A mask of the lanes [0, n) (any n; below 0 none, above 8 all). */
static __m256i lanes(int64_t n) {
  n = n < 0 ? 0 : n > 8 ? 8 : n;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The 2n floats at p (n in 1..8) as their even and odd elements. */
static void load_pairs(const float *p, int64_t n, __m256 *even, __m256 *odd) {
  __m256 lo, hi;
  if (n == 8) {
    lo = _mm256_loadu_ps(p);
    hi = _mm256_loadu_ps(p + 8);
  } else {
    lo = _mm256_maskload_ps(p, lanes(2 * n));
    hi = _mm256_maskload_ps(p + 8, lanes(2 * n - 8));
  }
  /* per 128-bit half: lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6, then the 64-bit
   * pairs reordered to lo0 lo2 lo4 lo6 hi0 hi2 hi4 hi6 */
  __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
  __m256 o = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
  *even = _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
  *odd = _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* The inverse: even and odd interleaved into the 2n floats at p. */
static void store_pairs(float *p, int64_t n, __m256 even, __m256 odd) {
  __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
  __m256 first = _mm256_permute2f128_ps(lo, hi, 0x20);
  __m256 second = _mm256_permute2f128_ps(lo, hi, 0x31);
  if (n == 8) {
    _mm256_storeu_ps(p, first);
    _mm256_storeu_ps(p + 8, second);
  } else {
    _mm256_maskstore_ps(p, lanes(2 * n), first);
    _mm256_maskstore_ps(p + 8, lanes(2 * n - 8), second);
  }
}

/* 1 where v holds the maximum m (a NaN maximum: where v is NaN), else 0 */
static __m256 shares(__m256 v, __m256 m, __m256 m_nan) {
  __m256 eq = _mm256_cmp_ps(v, m, _CMP_EQ_OQ);
  __m256 v_nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
  return _mm256_or_ps(eq, _mm256_and_ps(v_nan, m_nan));
}

void tg_k_pool2_f32_avx2(tg_k_pool_mode mode, const tg_k_window *win,
                         const float *xs, const float *src, float *dst) {
  int64_t h = win->h, w = win->w, oh = win->oh, ow = win->ow;
  const __m256 one = _mm256_set1_ps(1.0f),
               nan = _mm256_set1_ps(__builtin_nanf(""));
  for (int64_t pl = 0; pl < win->n * win->c; pl++) {
    for (int64_t oy = 0; oy < oh; oy++) {
      int64_t o = (pl * oh + oy) * ow, i = pl * h * w + 2 * oy * w;
      for (int64_t ox = 0; ox < ow; ox += 8) {
        int64_t cnt = ow - ox < 8 ? ow - ox : 8;
        __m256 a, b, c, d;
        load_pairs(xs + i + 2 * ox, cnt, &a, &b);
        load_pairs(xs + i + w + 2 * ox, cnt, &c, &d);
        /* the maximum, or NaN where any of the four is NaN */
        __m256 any_nan = _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_UNORD_Q),
                                      _mm256_cmp_ps(c, d, _CMP_UNORD_Q));
        __m256 m = _mm256_max_ps(_mm256_max_ps(a, b), _mm256_max_ps(c, d));
        m = _mm256_blendv_ps(m, nan, any_nan);
        __m256i out_mask = lanes(cnt);
        if (mode == TG_K_POOL_MAX) {
          _mm256_maskstore_ps(dst + o + ox, out_mask, m);
          continue;
        }
        __m256 ta = shares(a, m, any_nan), tb = shares(b, m, any_nan),
               tc = shares(c, m, any_nan), td = shares(d, m, any_nan);
        __m256 ties = _mm256_add_ps(
            _mm256_add_ps(_mm256_and_ps(ta, one), _mm256_and_ps(tb, one)),
            _mm256_add_ps(_mm256_and_ps(tc, one), _mm256_and_ps(td, one)));
        if (mode == TG_K_POOL_GATHER) {
          __m256 ha, hb, hc, hd;
          load_pairs(src + i + 2 * ox, cnt, &ha, &hb);
          load_pairs(src + i + w + 2 * ox, cnt, &hc, &hd);
          __m256 sum = _mm256_add_ps(
              _mm256_add_ps(_mm256_and_ps(ta, ha), _mm256_and_ps(tb, hb)),
              _mm256_add_ps(_mm256_and_ps(tc, hc), _mm256_and_ps(td, hd)));
          _mm256_maskstore_ps(dst + o + ox, out_mask, _mm256_div_ps(sum, ties));
        } else {
          __m256 share =
              _mm256_div_ps(_mm256_maskload_ps(src + o + ox, out_mask), ties);
          store_pairs(dst + i + 2 * ox, cnt, _mm256_and_ps(ta, share),
                      _mm256_and_ps(tb, share));
          store_pairs(dst + i + w + 2 * ox, cnt, _mm256_and_ps(tc, share),
                      _mm256_and_ps(td, share));
        }
      }
      if (mode == TG_K_POOL_SCATTER && w > 2 * ow) { /* an odd last column */
        dst[i + 2 * ow] = 0;
        dst[i + w + 2 * ow] = 0;
      }
    }
    if (mode == TG_K_POOL_SCATTER && h > 2 * oh) /* an odd last row */
      for (int64_t j = 0; j < w; j++)
        dst[pl * h * w + 2 * oh * w + j] = 0;
  }
}
