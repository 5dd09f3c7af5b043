/* SLEEF's AVX-512 vector functions: 16 floats or 8 doubles at a time. This
 * file alone is compiled with -mavx512f; vmath.c calls it only after
 * checking the processor (and that the operating system saves the 512-bit
 * registers) at run time. The SLEEF functions used here, and the code in
 * vmath_body.h (shared with the AVX2 path), need AVX512F only: no DQ, BW or
 * VL instructions. */
#include <immintrin.h>
#include <sleef.h>

#define ISA avx512
#define VF __m512
#define WF 16
#define LOADF _mm512_loadu_ps
#define STOREF _mm512_storeu_ps
#define SET1F _mm512_set1_ps
#define ZEROF _mm512_setzero_ps
#define ADDF _mm512_add_ps
#define SUBF _mm512_sub_ps
#define DIVF _mm512_div_ps
#define EXPF Sleef_expf16_u10avx512f
#define LOGF Sleef_logf16_u10avx512f
#define TANHF Sleef_tanhf16_u35avx512f
#define SINF Sleef_sinf16_u10avx512f
#define COSF Sleef_cosf16_u10avx512f
#define POWF Sleef_powf16_u10avx512f
#define VD __m512d
#define WD 8
#define LOADD _mm512_loadu_pd
#define STORED _mm512_storeu_pd
#define SET1D _mm512_set1_pd
#define ZEROD _mm512_setzero_pd
#define ADDD _mm512_add_pd
#define SUBD _mm512_sub_pd
#define DIVD _mm512_div_pd
#define EXPD Sleef_expd8_u10avx512f
#define LOGD Sleef_logd8_u10avx512f
#define TANHD Sleef_tanhd8_u35avx512f
#define SIND Sleef_sind8_u10avx512f
#define COSD Sleef_cosd8_u10avx512f
#define POWD Sleef_powd8_u10avx512f

#include "vmath_body.h"
