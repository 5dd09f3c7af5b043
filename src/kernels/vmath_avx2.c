/* SLEEF's AVX2 vector functions: 8 floats or 4 doubles at a time. This file
 * alone is compiled with -mavx2 -mfma; vmath.c calls it only after checking
 * the processor at run time. The functions themselves are in vmath_body.h,
 * shared with the AVX-512 path. */
#include <immintrin.h>
#include <sleef.h>

#define ISA avx2
#define VF __m256
#define WF 8
#define LOADF _mm256_loadu_ps
#define STOREF _mm256_storeu_ps
#define SET1F _mm256_set1_ps
#define ZEROF _mm256_setzero_ps
#define ADDF _mm256_add_ps
#define SUBF _mm256_sub_ps
#define DIVF _mm256_div_ps
#define EXPF Sleef_expf8_u10avx2
#define LOGF Sleef_logf8_u10avx2
#define TANHF Sleef_tanhf8_u35avx2
#define SINF Sleef_sinf8_u10avx2
#define COSF Sleef_cosf8_u10avx2
#define POWF Sleef_powf8_u10avx2
#define VD __m256d
#define WD 4
#define LOADD _mm256_loadu_pd
#define STORED _mm256_storeu_pd
#define SET1D _mm256_set1_pd
#define ZEROD _mm256_setzero_pd
#define ADDD _mm256_add_pd
#define SUBD _mm256_sub_pd
#define DIVD _mm256_div_pd
#define EXPD Sleef_expd4_u10avx2
#define LOGD Sleef_logd4_u10avx2
#define TANHD Sleef_tanhd4_u35avx2
#define SIND Sleef_sind4_u10avx2
#define COSD Sleef_cosd4_u10avx2
#define POWD Sleef_powd4_u10avx2

#include "vmath_body.h"
