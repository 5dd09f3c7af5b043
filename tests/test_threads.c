/* tapegrad's threads (src/kernels/parallel.c): every kernel that shares its
 * work out gives, with 3 threads, what it gives with 1. Sizes are chosen
 * above the thresholds where work is shared (products of millions of
 * multiply-adds, elementwise runs of hundreds of thousands), with 3
 * threads so that chunks are uneven. Elementwise kernels, im2col, col2im
 * pooling and optimizer steps must match to the bit; products may use other
 * OpenBLAS kernels on the smaller pieces, so they must match to f64 rounding.
 * Also: two user threads running shared-out kernels at once (one of them
 * finds the pool busy and runs alone) get the same results. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* A function of a few heap inputs that returns some outputs: forward
 * values and gradients. */
typedef int (*compute_fn)(tg_tape *tp, tg_tensor **in, tg_tensor **out);

typedef struct tcase {
  const char *name;
  tg_dtype dtype;
  int n_in;
  int ndim[3];
  int64_t shape[3][4];
  compute_fn fn;
  double tol; /* 0: bit-equal */
} tcase;

enum { MAX_OUT = 4 };

static tg_tensor *input(const tcase *c, int i, uint64_t seed) {
  tg_tensor *t = tg_tensor_new(NULL, c->dtype, c->ndim[i], c->shape[i]);
  ck_assert_ptr_nonnull(t);
  tg_rng rng;
  tg_rng_seed(&rng, seed + (uint64_t)i);
  tg_fill_uniform(t, &rng, -1, 1);
  return tg_set_requires_grad(t, true);
}

/* A heap copy of t. */
static tg_tensor *heap_copy(tg_tape *tp, tg_tensor *t) {
  tg_tensor *c = tg_contiguous(tp, t);
  ck_assert_ptr_nonnull(c);
  tg_tensor *h = tg_tensor_new(NULL, c->dtype, c->ndim, c->shape);
  ck_assert(h && tg_copy_in(h, c->data) == TG_OK);
  return h;
}

/* Runs c at the thread count, returns heap copies of its outputs. */
static int run_case(const tcase *c, int threads, tg_tensor **copies) {
  ck_assert_int_eq(tg_set_num_threads(threads), threads);
  tg_tensor *in[3] = {NULL, NULL, NULL}, *out[MAX_OUT] = {NULL};
  for (int i = 0; i < c->n_in; i++)
    in[i] = input(c, i, 77);
  tg_tape *tp = tg_tape_new();
  int n = c->fn(tp, in, out);
  ck_assert_msg(n > 0, "%s: %s", c->name, tg_errmsg(tp));
  for (int k = 0; k < n; k++) {
    ck_assert_msg(out[k] != NULL, "%s: output %d missing", c->name, k);
    copies[k] = heap_copy(tp, out[k]);
  }
  tg_tape_free(tp);
  for (int i = 0; i < c->n_in; i++)
    tg_tensor_free(in[i]);
  return n;
}

static void expect_same(const tcase *c, int n, tg_tensor **a, tg_tensor **b) {
  for (int k = 0; k < n; k++) {
    ck_assert_int_eq(a[k]->numel, b[k]->numel);
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < a[k]->numel; i++) {
      double x = tg_get_flat(a[k], i), y = tg_get_flat(b[k], i);
      worst = fmax(worst, fabs(x - y));
      scale = fmax(scale, fabs(x));
    }
    ck_assert_msg(worst <= c->tol * fmax(1, scale),
                  "%s: output %d differs by %g between 1 and 3 threads",
                  c->name, k, worst);
  }
}

static void check_case(const tcase *c) {
  int before = tg_num_threads();
  tg_tensor *one[MAX_OUT], *three[MAX_OUT];
  int n = run_case(c, 1, one);
  ck_assert_int_eq(run_case(c, 3, three), n);
  expect_same(c, n, one, three);
  for (int k = 0; k < n; k++) {
    tg_tensor_free(one[k]);
    tg_tensor_free(three[k]);
  }
  tg_set_num_threads(before);
}

/* y = f(inputs); outputs y and the gradients of sum(y * y) */
static int with_grads(tg_tape *tp, tg_tensor *y, int n_in, tg_tensor **in,
                      tg_tensor **out) {
  if (!y) return 0;
  tg_tensor *loss = tg_sum_all(tp, tg_mul(tp, y, y));
  if (!loss || tg_backward(tp, loss) != TG_OK) return 0;
  out[0] = y;
  for (int i = 0; i < n_in; i++)
    out[1 + i] = tg_grad_of(in[i]);
  return 1 + n_in;
}

static int matmul_fn(tg_tape *tp, tg_tensor **in, tg_tensor **out) {
  return with_grads(tp, tg_matmul(tp, in[0], in[1]), 2, in, out);
}

static int conv_fn(tg_tape *tp, tg_tensor **in, tg_tensor **out) {
  tg_conv_opts o = {{1, 1}, {1, 1}, {1, 1}, 1};
  return with_grads(tp, tg_conv2d(tp, in[0], in[1], NULL, &o), 2, in, out);
}

static int pool_fn(tg_tape *tp, tg_tensor **in, tg_tensor **out) {
  tg_window two = {{2, 2}, {2, 2}, {0, 0}, {1, 1}};
  tg_window three = {{3, 3}, {2, 2}, {1, 1}, {1, 1}}; /* the general kernel */
  tg_tensor *y =
      tg_add(tp, tg_max_pool2d(tp, in[0], &two),
             tg_slice(tp, tg_max_pool2d(tp, in[0], &three), 2, 0, 16, 1));
  return with_grads(tp, y, 1, in, out);
}

static int elementwise_fn(tg_tape *tp, tg_tensor **in, tg_tensor **out) {
  tg_tensor *y = tg_mul(tp, tg_tanh(tp, in[0]), tg_relu(tp, in[1]));
  y = tg_add(tp, tg_sigmoid(tp, y), tg_exp(tp, in[1]));
  return with_grads(tp, y, 2, in, out);
}

START_TEST(test_matmul_rows_and_columns) {
  /* rows: c [600, 300]; columns: c [64, 2000]; both with gradients, whose
   * products are transposed ones */
  tcase rows = {"matmul split by rows",   TG_F64,    2,    {2, 2},
                {{600, 200}, {200, 300}}, matmul_fn, 1e-12};
  tcase cols = {"matmul split by columns", TG_F64,    2,    {2, 2},
                {{64, 150}, {150, 2000}},  matmul_fn, 1e-12};
  /* and rows of a transposed operand: d/dB = A^T G, [900, 120] @ [120, 60] */
  tcase rows_t = {"matmul split by rows of a transposed operand",
                  TG_F64,
                  2,
                  {2, 2},
                  {{120, 900}, {900, 60}},
                  matmul_fn,
                  1e-12};
  check_case(&rows);
  check_case(&cols);
  check_case(&rows_t);
}
END_TEST

START_TEST(test_batched_matmul_entries_and_sums) {
  /* entries shared out; the gradient of the shared weight sums over the
   * batch, split by its columns */
  tcase c = {"batched matmul", TG_F64, 2, {2, 3}, {{96, 120}, {12, 120, 256}},
             matmul_fn,        1e-12};
  check_case(&c);
}
END_TEST

START_TEST(test_conv_im2col_col2im) {
  tcase c = {"conv2d", TG_F32, 2, {4, 4}, {{32, 8, 20, 20}, {16, 8, 3, 3}},
             conv_fn,  1e-5};
  check_case(&c);
}
END_TEST

START_TEST(test_pooling_bit_equal) {
  tcase c = {"max_pool2d", TG_F32, 1, {4}, {{16, 16, 32, 32}}, pool_fn, 0};
  check_case(&c);
}
END_TEST

START_TEST(test_elementwise_bit_equal) {
  tcase c = {"elementwise",  TG_F32, 2, {2, 2}, {{300, 1000}, {300, 1000}},
             elementwise_fn, 0};
  check_case(&c);
}
END_TEST

/* Three Adam steps on a [400, 500] parameter: its elements are shared out. */
static tg_tensor *adam_steps(int threads) {
  ck_assert_int_eq(tg_set_num_threads(threads), threads);
  tg_params *ps = tg_params_new();
  tg_tensor *w = tg_param_new(ps, NULL, "w", TG_F32, 2, (int64_t[]){400, 500});
  ck_assert_ptr_nonnull(w);
  tg_rng rng;
  tg_rng_seed(&rng, 3);
  tg_fill_uniform(w, &rng, -1, 1);
  tg_optimizer *opt = tg_adam_new(ps, &(tg_adam_opts){.lr = 0.01});
  tg_tape *tp = tg_tape_new();
  for (int step = 0; step < 3; step++) {
    tg_tensor *loss = tg_sum_all(tp, tg_mul(tp, tg_tanh(tp, w), w));
    ck_assert_int_eq(tg_backward(tp, loss), TG_OK);
    ck_assert_int_eq(tg_optimizer_step(opt), TG_OK);
    tg_optimizer_zero_grad(opt);
    tg_tape_reset(tp);
  }
  tg_tensor *copy = heap_copy(tp, w);
  tg_tape_free(tp);
  tg_optimizer_free(opt);
  tg_params_free(ps);
  return copy;
}

START_TEST(test_optimizer_bit_equal) {
  int before = tg_num_threads();
  tg_tensor *one = adam_steps(1), *three = adam_steps(3);
  tcase c = {.name = "Adam", .tol = 0};
  expect_same(&c, 1, &one, &three);
  tg_tensor_free(one);
  tg_tensor_free(three);
  tg_set_num_threads(before);
}
END_TEST

/* Two user threads at once, each repeating a shared-out computation. */
typedef struct runner {
  const tcase *c;
  tg_tensor *out[MAX_OUT];
  int n;
} runner;

static void *run_in_thread(void *arg) {
  runner *r = arg;
  tg_tensor *in[3] = {NULL, NULL, NULL};
  for (int i = 0; i < r->c->n_in; i++)
    in[i] = input(r->c, i, 77);
  for (int rep = 0; rep < 5; rep++) {
    tg_tape *tp = tg_tape_new();
    tg_tensor *out[MAX_OUT] = {NULL};
    r->n = r->c->fn(tp, in, out);
    for (int k = 0; k < r->n && rep == 4; k++)
      r->out[k] = heap_copy(tp, out[k]);
    tg_tape_free(tp);
    for (int i = 0; i < r->c->n_in; i++)
      tg_zero_grad(in[i]);
  }
  for (int i = 0; i < r->c->n_in; i++)
    tg_tensor_free(in[i]);
  return NULL;
}

START_TEST(test_two_user_threads) {
  tcase c = {"elementwise",  TG_F32, 2, {2, 2}, {{300, 1000}, {300, 1000}},
             elementwise_fn, 0};
  tg_tensor *alone[MAX_OUT];
  int n = run_case(&c, 1, alone);
  tg_set_num_threads(2);
  runner r[2] = {{.c = &c}, {.c = &c}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(pthread_create(&t[i], NULL, run_in_thread, &r[i]), 0);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(r[i].n, n);
    expect_same(&c, n, alone, r[i].out);
    for (int k = 0; k < n; k++)
      tg_tensor_free(r[i].out[k]);
  }
  for (int k = 0; k < n; k++)
    tg_tensor_free(alone[k]);
}
END_TEST

START_TEST(test_thread_count_setting) {
  ck_assert_int_eq(tg_set_num_threads(3), 3);
  ck_assert_int_eq(tg_num_threads(), 3);
  ck_assert_int_eq(tg_set_num_threads(1), 1);
  ck_assert_int_ge(tg_set_num_threads(0), 1);     /* the default */
  ck_assert_int_eq(tg_set_num_threads(1000), 64); /* capped */
}
END_TEST

static Suite *threads_suite(void) {
  Suite *s = suite_create("threads");
  TCase *tc = tcase_create("same results");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_matmul_rows_and_columns);
  tcase_add_test(tc, test_batched_matmul_entries_and_sums);
  tcase_add_test(tc, test_conv_im2col_col2im);
  tcase_add_test(tc, test_pooling_bit_equal);
  tcase_add_test(tc, test_elementwise_bit_equal);
  tcase_add_test(tc, test_optimizer_bit_equal);
  tcase_add_test(tc, test_two_user_threads);
  tcase_add_test(tc, test_thread_count_setting);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(threads_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
