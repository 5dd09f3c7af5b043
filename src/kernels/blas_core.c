/* Which OpenBLAS kernels run matrix products, and a repair for one case.
 *
 * OpenBLAS built with DYNAMIC_ARCH (Debian's is) picks its kernels once, when
 * it loads, from the processor's family and model numbers. Version 0.3.21
 * (Debian 12) does not know recent Intel models (family 6, model 207, for
 * one) and falls back to the generic "Prescott" kernels: SSE3 only, three to
 * four times slower on matrix products than the AVX-512 ones. When that has
 * happened on a processor that has AVX-512 (or AVX2 and FMA), and the user
 * has chosen no core (OPENBLAS_CORETYPE) and not opted out
 * (TAPEGRAD_BLAS_CORE=keep), tapegrad asks OpenBLAS to choose again with the
 * matching core name, once, while the library loads: before main, before
 * any product has run, on one thread. OpenBLAS's own entry points for this
 * (gotoblas_dynamic_quit / _init, exported by DYNAMIC_ARCH builds) are
 * looked up at run time, so a build without them simply keeps its kernels. */
/* RTLD_DEFAULT is a GNU extension. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

char *openblas_get_corename(void);

static const char *chosen_by_tapegrad;

/* The OpenBLAS core name for this processor's vector units, or NULL. */
static const char *core_for_this_cpu(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return "Haswell";
#endif
  return NULL;
}

__attribute__((constructor)) static void tg__blas_core_repair(void) {
  const char *opt = getenv("TAPEGRAD_BLAS_CORE");
  if (getenv("OPENBLAS_CORETYPE") || (opt && strcmp(opt, "keep") == 0)) return;
  const char *now = openblas_get_corename();
  if (!now || strcmp(now, "Prescott") != 0) return;
  const char *want = core_for_this_cpu();
  void (*quit)(void) =
      (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
  void (*init)(void) =
      (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
  if (!want || !quit || !init) return;
  /* OpenBLAS reads the name from the environment; it is set only for the
   * call, so child processes see the environment the program was given. */
  if (setenv("OPENBLAS_CORETYPE", want, 1) != 0) return;
  quit();
  init();
  unsetenv("OPENBLAS_CORETYPE");
  chosen_by_tapegrad = want;
}

const char *tg_blas_core(void) {
  const char *name = openblas_get_corename();
  return name ? name : "unknown";
}

bool tg_blas_core_repaired(void) { return chosen_by_tapegrad != NULL; }
