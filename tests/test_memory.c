/* Memory: a long training loop on one tape must not grow. The arena keeps
 * its chunks across tg_tape_reset, so after the first step no memory is
 * taken from the system. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "support.h"
#include "tapegrad.h"

/* Anonymous resident memory in KiB (heap and arena pages), from
 * /proc/self/status on Linux. File-backed pages are left out: under Check's
 * fork mode the child maps library code lazily, which is not growth. */
static long rss_anon_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "RssAnon: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

/* In-place SGD on a heap parameter: w -= lr * grad. */
static void sgd(tg_tensor *w, double lr) {
  float *p = w->data;
  const float *g = tg_grad_of(w)->data;
  for (int64_t i = 0; i < w->numel; i++)
    p[i] -= (float)lr * g[i];
  tg_zero_grad(w);
}

START_TEST(test_training_loop_memory_does_not_grow) {
  enum { B = 16, IN = 32, HID = 64, OUT = 4, STEPS = 10000, WARM = 100 };
  tg_tape *tp = tg_tape_new();
  tg_tape_seed(tp, 1);
  int64_t s1[2] = {IN, HID}, sb1[1] = {HID}, s2[2] = {HID, OUT}, sb2[1] = {OUT},
          sx[2] = {B, IN}, sy[2] = {B, OUT};
  tg_tensor *w1 = tg_tensor_new(tp, TG_F32, 2, s1);
  tg_tensor *b1 = tg_tensor_new(tp, TG_F32, 1, sb1);
  tg_tensor *w2 = tg_tensor_new(tp, TG_F32, 2, s2);
  tg_tensor *b2 = tg_tensor_new(tp, TG_F32, 1, sb2);
  tg_tensor *params[4] = {w1, b1, w2, b2};
  tg_fill_normal(w1, tg_tape_rng(tp), 0, 0.2);
  tg_fill_normal(w2, tg_tape_rng(tp), 0, 0.2);
  for (int i = 0; i < 4; i++)
    tg_set_requires_grad(params[i], true);

  long rss_warm = 0;
  size_t bytes_warm = 0;
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < STEPS; step++) {
    tg_tensor *x = tg_rand_normal(tp, TG_F32, 2, sx, 0, 1);
    tg_tensor *y = tg_rand_normal(tp, TG_F32, 2, sy, 0, 0.1);
    tg_tensor *h = tg_relu(tp, tg_add(tp, tg_matmul(tp, x, w1), b1));
    tg_tensor *out = tg_add(tp, tg_matmul(tp, h, w2), b2);
    tg_tensor *r = tg_sub(tp, out, y);
    tg_tensor *loss = tg_mean_all(tp, tg_mul(tp, r, r));
    ck_assert_int_eq(tg_backward(tp, loss), TG_OK);
    if (step == 0) first_loss = tg_item(loss);
    last_loss = tg_item(loss);
    for (int i = 0; i < 4; i++)
      sgd(params[i], 0.01);
    if (step == WARM) {
      rss_warm = rss_anon_kib();
      bytes_warm = tg_tape_bytes(tp);
    }
    if (step > WARM) ck_assert_uint_eq(tg_tape_bytes(tp), bytes_warm);
    if (getenv("TG_RSS_TRACE") && step % 1000 == 0)
      printf("step %d rss %ld\n", step, rss_anon_kib());
    tg_tape_reset(tp);
  }
  long rss_end = rss_anon_kib();
  printf("anonymous RSS after %d steps: %ld KiB; after %d steps: %ld KiB; loss "
         "%.4f -> "
         "%.4f\n",
         WARM, rss_warm, STEPS, rss_end, first_loss, last_loss);
  ck_assert_int_gt(rss_warm, 0);
#if defined(__SANITIZE_ADDRESS__)
  /* AddressSanitizer's shadow memory and quarantine grow on their own; the
   * arena check above still holds. The RSS check runs in normal builds. */
  printf("RSS comparison not made under AddressSanitizer\n");
#else
  ck_assert_int_le(rss_end - rss_warm, 0);
#endif
  for (int i = 0; i < 4; i++)
    tg_tensor_free(params[i]);
  tg_tape_free(tp);
}
END_TEST

int main(void) {
  Suite *s = suite_create("memory");
  TCase *tc = tcase_create("memory");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_training_loop_memory_does_not_grow);
  suite_add_tcase(s, tc);
  return tgt_run_suite(s);
}
