/* Bad input, everywhere: a table of calls to public functions with NULL
 * pointers, zero or negative sizes, shapes whose product overflows,
 * mismatched dtypes, axes out of range and wrong files. Every row must end
 * in a reported error (NULL or a status, with a message naming the
 * function), never a crash. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "tapegrad.h"

/* A row: what it calls, and the text its message must contain (NULL when
 * the function reports by its return value alone, without a tape). */
typedef struct bad_case {
  const char *name;
  const char *expect;
  bool (*fails)(tg_tape *tp); /* true when the call reported the failure */
} bad_case;

static int64_t S23[2] = {2, 3}, S32[2] = {3, 2}, S4[1] = {4};
static int64_t HUGE4[4] = {1 << 20, 1 << 20, 1 << 20, 1 << 20};
static int64_t NEG[2] = {2, -1};

static tg_tensor *f64(tg_tape *tp) { return tg_ones(tp, TG_F64, 2, S23); }
static tg_tensor *f32(tg_tape *tp) { return tg_ones(tp, TG_F32, 2, S23); }
static tg_tensor *idx(tg_tape *tp, double v) {
  return tg_full(tp, TG_F64, 2, S23, v);
}

/* --- ops given NULL ------------------------------------------------------- */
#define UNARY_NULL(F)                                                          \
  static bool null_##F(tg_tape *tp) { return !F(tp, NULL); }
#define BINARY_NULL(F)                                                         \
  static bool null_##F(tg_tape *tp) { return !F(tp, f64(tp), NULL); }          \
  static bool dtype_##F(tg_tape *tp) { return !F(tp, f64(tp), f32(tp)); }      \
  static bool shape_##F(tg_tape *tp) {                                         \
    return !F(tp, f64(tp), tg_ones(tp, TG_F64, 1, S4));                        \
  }
UNARY_NULL(tg_neg)
UNARY_NULL(tg_exp)
UNARY_NULL(tg_log)
UNARY_NULL(tg_sqrt)
UNARY_NULL(tg_tanh)
UNARY_NULL(tg_sigmoid)
UNARY_NULL(tg_relu)
UNARY_NULL(tg_abs)
UNARY_NULL(tg_sin)
UNARY_NULL(tg_cos)
UNARY_NULL(tg_contiguous)
UNARY_NULL(tg_sum_all)
UNARY_NULL(tg_mean_all)
UNARY_NULL(tg_gelu)
UNARY_NULL(tg_softplus)
BINARY_NULL(tg_add)
BINARY_NULL(tg_sub)
BINARY_NULL(tg_mul)
BINARY_NULL(tg_div)
BINARY_NULL(tg_pow)
BINARY_NULL(tg_maximum)
BINARY_NULL(tg_minimum)
BINARY_NULL(tg_eq)
BINARY_NULL(tg_ne)
BINARY_NULL(tg_lt)
BINARY_NULL(tg_le)
BINARY_NULL(tg_gt)
BINARY_NULL(tg_ge)

static bool null_pow_scalar(tg_tape *tp) { return !tg_pow_scalar(tp, NULL, 2); }
static bool null_mul_scalar(tg_tape *tp) { return !tg_mul_scalar(tp, NULL, 2); }
static bool null_add_scalar(tg_tape *tp) { return !tg_add_scalar(tp, NULL, 2); }
static bool null_leaky(tg_tape *tp) { return !tg_leaky_relu(tp, NULL, 0.1); }
static bool null_elu(tg_tape *tp) { return !tg_elu(tp, NULL, 1); }

/* --- shapes, axes, arguments --------------------------------------------- */
static bool matmul_inner(tg_tape *tp) {
  return !tg_matmul(tp, f64(tp), f64(tp));
}
static bool matmul_1d(tg_tape *tp) {
  return !tg_matmul(tp, tg_ones(tp, TG_F64, 1, S4), f64(tp));
}
static bool matmul_dtype(tg_tape *tp) {
  return !tg_matmul(tp, f64(tp), tg_ones(tp, TG_F32, 2, S32));
}
static bool where_null(tg_tape *tp) {
  return !tg_where(tp, NULL, f64(tp), f64(tp));
}
static bool where_dtype(tg_tape *tp) {
  return !tg_where(tp, f64(tp), f32(tp), f64(tp));
}
static bool sum_axis(tg_tape *tp) {
  int a = 5;
  return !tg_sum(tp, f64(tp), 1, &a, false);
}
static bool mean_axes_null(tg_tape *tp) {
  return !tg_mean(tp, f64(tp), 2, NULL, false);
}
static bool max_axis(tg_tape *tp) {
  int a = -9;
  return !tg_max(tp, f64(tp), 1, &a, true);
}
static bool sum_to_bad(tg_tape *tp) { return !tg_sum_to(tp, f64(tp), 1, S4); }
static bool reshape_count(tg_tape *tp) {
  return !tg_reshape(tp, f64(tp), 1, S4);
}
static bool reshape_ndim(tg_tape *tp) {
  return !tg_reshape(tp, f64(tp), 9, S4);
}
static bool reshape_neg(tg_tape *tp) {
  int64_t s[2] = {3, -2}; /* -1 would be inferred; -2 is never valid */
  return !tg_reshape(tp, f64(tp), 2, s);
}
static bool permute_null(tg_tape *tp) { return !tg_permute(tp, f64(tp), NULL); }
static bool permute_dup(tg_tape *tp) {
  int p[2] = {1, 1};
  return !tg_permute(tp, f64(tp), p);
}
static bool transpose_axis(tg_tape *tp) {
  return !tg_transpose(tp, f64(tp), 0, 7);
}
static bool expand_bad(tg_tape *tp) { return !tg_expand(tp, f64(tp), 2, S32); }
static bool expand_null(tg_tape *tp) {
  return !tg_expand(tp, f64(tp), 2, NULL);
}
static bool slice_step(tg_tape *tp) {
  return !tg_slice(tp, f64(tp), 0, 0, 2, 0);
}
static bool slice_axis(tg_tape *tp) {
  return !tg_slice(tp, f64(tp), 3, 0, 2, 1);
}
static bool concat_none(tg_tape *tp) { return !tg_concat(tp, 0, NULL, 0); }
static bool concat_shape(tg_tape *tp) {
  tg_tensor *xs[2] = {f64(tp), tg_ones(tp, TG_F64, 2, S32)};
  return !tg_concat(tp, 2, xs, 0);
}
static bool concat_dtype(tg_tape *tp) {
  tg_tensor *xs[2] = {f64(tp), f32(tp)};
  return !tg_concat(tp, 2, xs, 0);
}
static bool pad_negative(tg_tape *tp) {
  int64_t pads[4] = {0, -1, 0, 0};
  return !tg_pad(tp, f64(tp), pads, 0);
}
static bool pad_null(tg_tape *tp) { return !tg_pad(tp, f64(tp), NULL, 0); }
static bool gather_range(tg_tape *tp) {
  return !tg_gather(tp, f64(tp), 1, idx(tp, 7));
}
static bool gather_fraction(tg_tape *tp) {
  return !tg_gather(tp, f64(tp), 1, idx(tp, 0.5));
}
static bool gather_negative(tg_tape *tp) {
  return !tg_gather(tp, f64(tp), 1, idx(tp, -1));
}
static bool gather_nan(tg_tape *tp) {
  return !tg_gather(tp, f64(tp), 1, idx(tp, NAN));
}
static bool scatter_shape(tg_tape *tp) {
  return !tg_scatter_add(tp, f64(tp), 1, idx(tp, 0),
                         tg_ones(tp, TG_F64, 2, S32));
}
static bool index_select_2d(tg_tape *tp) {
  return !tg_index_select(tp, f64(tp), 0, idx(tp, 0));
}
static bool one_hot_range(tg_tape *tp) {
  return !tg_one_hot(tp, idx(tp, 3), 3, TG_F64);
}
static bool one_hot_classes(tg_tape *tp) {
  return !tg_one_hot(tp, idx(tp, 0), 0, TG_F64);
}
static bool softmax_axis(tg_tape *tp) { return !tg_softmax(tp, f64(tp), 4); }
static bool log_softmax_null(tg_tape *tp) {
  return !tg_log_softmax(tp, NULL, 0);
}
static bool logsumexp_axis(tg_tape *tp) {
  return !tg_logsumexp(tp, f64(tp), -5, 0);
}

/* --- windows, convolution, pooling --------------------------------------- */
static tg_tensor *image(tg_tape *tp, int64_t c, int64_t side) {
  int64_t s[4] = {1, c, side, side};
  return tg_ones(tp, TG_F64, 4, s);
}
static bool unfold_big(tg_tape *tp) {
  tg_window w = {{5, 5}, {0}, {0}, {0}};
  return !tg_unfold(tp, image(tp, 1, 3), &w);
}
static bool unfold_null(tg_tape *tp) {
  return !tg_unfold(tp, image(tp, 1, 3), NULL);
}
static bool unfold_2d(tg_tape *tp) {
  tg_window w = {{1, 1}, {0}, {0}, {0}};
  return !tg_unfold(tp, f64(tp), &w);
}
static bool fold_spatial(tg_tape *tp) {
  tg_window w = {{1, 1}, {0}, {0}, {0}};
  return !tg_fold(tp, f64(tp), 3, S4, &w);
}
static bool conv_channels(tg_tape *tp) {
  int64_t ws[4] = {2, 2, 3, 3};
  return !tg_conv2d(tp, image(tp, 3, 5), tg_ones(tp, TG_F64, 4, ws), NULL,
                    NULL);
}
static bool conv_dtype(tg_tape *tp) {
  int64_t ws[4] = {2, 1, 3, 3};
  return !tg_conv2d(tp, image(tp, 1, 5), tg_ones(tp, TG_F32, 4, ws), NULL,
                    NULL);
}
static bool conv_groups(tg_tape *tp) {
  int64_t ws[4] = {2, 1, 3, 3};
  tg_conv_opts o = {{0}, {0}, {0}, 3};
  return !tg_conv2d(tp, image(tp, 2, 5), tg_ones(tp, TG_F64, 4, ws), NULL, &o);
}
static bool conv1d_rank(tg_tape *tp) {
  int64_t ws[3] = {1, 1, 3};
  return !tg_conv1d(tp, image(tp, 1, 5), tg_ones(tp, TG_F64, 3, ws), NULL,
                    NULL);
}
static bool pool_rank(tg_tape *tp) {
  tg_window w = {{2, 2}, {0}, {0}, {0}};
  return !tg_max_pool2d(tp, f64(tp), &w);
}
static bool avg_pool_null(tg_tape *tp) {
  return !tg_avg_pool2d(tp, image(tp, 1, 4), NULL);
}

/* --- creation --------------------------------------------------------------
 */
static bool zeros_negative(tg_tape *tp) {
  return !tg_zeros(tp, TG_F64, 2, NEG);
}
static bool ones_overflow(tg_tape *tp) {
  return !tg_ones(tp, TG_F32, 4, HUGE4);
}
static bool empty_ndim(tg_tape *tp) { return !tg_empty(tp, TG_F64, 9, S4); }
static bool full_dtype(tg_tape *tp) {
  return !tg_full(tp, (tg_dtype)5, 1, S4, 0);
}
static bool from_buffer_null(tg_tape *tp) {
  return !tg_from_buffer(tp, TG_F64, 1, S4, NULL);
}
static bool from_f64_null(tg_tape *tp) {
  return !tg_from_f64(tp, TG_F64, 1, S4, NULL);
}
static bool wrap_null(tg_tape *tp) {
  return !tg_wrap_buffer(tp, TG_F64, 1, S4, NULL);
}
static bool arange_step(tg_tape *tp) { return !tg_arange(tp, TG_F64, 0, 1, 0); }
static bool arange_nan(tg_tape *tp) {
  return !tg_arange(tp, TG_F64, NAN, 1, 1);
}
static bool uniform_negative(tg_tape *tp) {
  return !tg_rand_uniform(tp, TG_F64, 2, NEG, 0, 1);
}
static bool normal_overflow(tg_tape *tp) {
  return !tg_rand_normal(tp, TG_F64, 4, HUGE4, 0, 1);
}
static bool tensor_new_negative(tg_tape *tp) {
  return !tg_tensor_new(tp, TG_F64, 2, NEG);
}
static bool clone_null(tg_tape *tp) { return !tg_tensor_clone(tp, NULL); }

/* --- tape, backward, grad ----------------------------------------------------
 */
static bool backward_null(tg_tape *tp) {
  return tg_backward(tp, NULL) != TG_OK;
}
static bool backward_shape(tg_tape *tp) {
  tg_tensor *x = tg_set_requires_grad(f64(tp), true);
  return tg_backward(tp, tg_exp(tp, x)) != TG_OK;
}
static bool backward_const(tg_tape *tp) {
  return tg_backward(tp, tg_scalar(tp, TG_F64, 1)) != TG_OK;
}
static bool seed_null(tg_tape *tp) {
  tg_tensor *x = tg_set_requires_grad(f64(tp), true);
  return tg_backward_seed(tp, tg_exp(tp, x), NULL) != TG_OK;
}
static bool seed_shape(tg_tape *tp) {
  tg_tensor *x = tg_set_requires_grad(f64(tp), true);
  return tg_backward_seed(tp, tg_exp(tp, x), tg_ones(tp, TG_F64, 1, S4)) !=
         TG_OK;
}
static bool grad_no_inputs(tg_tape *tp) {
  tg_tensor *y = tg_scalar(tp, TG_F64, 1), *g;
  return tg_grad(tp, 1, &y, NULL, 0, NULL, &g, false) != TG_OK;
}
static bool grad_null_input(tg_tape *tp) {
  tg_tensor *x = tg_set_requires_grad(tg_scalar(tp, TG_F64, 1), true);
  tg_tensor *y = tg_exp(tp, x), *in[1] = {NULL}, *g[1];
  return tg_grad(tp, 1, &y, NULL, 1, in, g, false) != TG_OK;
}

/* --- checking and transforms -------------------------------------------------
 */
static tg_tensor *exp_fn(tg_tape *tp, tg_tensor *const *in, void *ud) {
  (void)ud;
  return tg_sum_all(tp, tg_exp(tp, in[0]));
}
static bool vjp_null(tg_tape *tp) {
  tg_tensor *g;
  return tg_vjp(tp, NULL, NULL, 1, NULL, NULL, NULL, &g) != TG_OK;
}
static bool jvp_tangent(tg_tape *tp) {
  tg_tensor *x = f64(tp), *t = tg_ones(tp, TG_F64, 1, S4), *y, *j;
  return tg_jvp(tp, exp_fn, NULL, 1, &x, &t, &y, &j) != TG_OK;
}
static bool jacobian_wrt(tg_tape *tp) {
  tg_tensor *x = f64(tp);
  return !tg_jacobian(tp, exp_fn, NULL, 1, &x, 3);
}
static bool hessian_null(tg_tape *tp) {
  return !tg_hessian(tp, exp_fn, NULL, 1, NULL, 0);
}
static bool hvp_v(tg_tape *tp) {
  tg_tensor *x = f64(tp), *v = f32(tp), *hv;
  return tg_hvp(tp, exp_fn, NULL, 1, &x, &v, &hv) != TG_OK;
}
static bool custom_null(tg_tape *tp) { return !tg_custom(tp, NULL, NULL); }

/* --- parameters, layers, optimizers ------------------------------------------
 */
static bool param_empty_name(tg_tape *tp) {
  tg_params *ps = tg_params_new();
  bool failed = !tg_param_new(ps, tp, "", TG_F64, 1, S4);
  tg_params_free(ps);
  return failed;
}
static bool param_duplicate(tg_tape *tp) {
  tg_params *ps = tg_params_new();
  tg_param_new(ps, tp, "w", TG_F64, 1, S4);
  bool failed = !tg_param_new(ps, tp, "w", TG_F64, 1, S4);
  tg_params_free(ps);
  return failed;
}
static bool param_null_registry(tg_tape *tp) {
  return !tg_param_new(NULL, tp, "w", TG_F64, 1, S4);
}
static bool dense_wrong_width(tg_tape *tp) {
  tg_params *ps = tg_params_new();
  tg_layer *l = tg_dense_new(ps, tp, "fc", 4, 2, TG_F64, NULL);
  bool failed = !tg_layer_forward(tp, l, f64(tp));
  tg_layer_free(l);
  tg_params_free(ps);
  return failed;
}
static bool conv_layer_input(tg_tape *tp) {
  tg_params *ps = tg_params_new();
  tg_layer *l = tg_conv2d_new(ps, tp, "conv", 3, 4, 3, 3, NULL, TG_F64, NULL);
  bool failed = !tg_layer_forward(tp, l, image(tp, 1, 5));
  tg_layer_free(l);
  tg_params_free(ps);
  return failed;
}
static bool lstm_input(tg_tape *tp) {
  tg_params *ps = tg_params_new();
  tg_layer *l = tg_lstm_new(ps, tp, "lstm", 3, 4, TG_F64, NULL);
  bool failed = !tg_recurrent_forward(tp, l, f64(tp), NULL, NULL, NULL, NULL);
  tg_layer_free(l);
  tg_params_free(ps);
  return failed;
}
static bool layer_null(tg_tape *tp) {
  return !tg_layer_forward(tp, NULL, f64(tp));
}
static bool layer_norm_axes(tg_tape *tp) {
  tg_params *ps = tg_params_new();
  bool failed = !tg_layer_norm_new(ps, tp, "ln", 0, S4, 0, TG_F64);
  tg_params_free(ps);
  return failed;
}
static bool sgd_no_lr(tg_tape *tp) {
  (void)tp;
  tg_params *ps = tg_params_new();
  tg_optimizer *o = tg_sgd_new(ps, &(tg_sgd_opts){.lr = -1});
  tg_params_free(ps);
  return !o;
}
static bool adam_null(tg_tape *tp) {
  (void)tp;
  return !tg_adam_new(NULL, NULL);
}
static bool optimizer_step_null(tg_tape *tp) {
  (void)tp;
  return tg_optimizer_step(NULL) != TG_OK;
}
static bool schedule_null(tg_tape *tp) {
  (void)tp;
  return isnan(tg_schedule_lr(NULL, 3));
}

/* --- losses ------------------------------------------------------------------
 */
static bool mse_shape(tg_tape *tp) {
  return !tg_mse_loss(tp, f64(tp), tg_ones(tp, TG_F64, 2, S32), TG_REDUCE_MEAN);
}
static bool l1_dtype(tg_tape *tp) {
  return !tg_l1_loss(tp, f64(tp), f32(tp), TG_REDUCE_SUM);
}
static bool huber_delta(tg_tape *tp) {
  return !tg_huber_loss(tp, f64(tp), f64(tp), -1, TG_REDUCE_MEAN);
}
static bool ce_labels(tg_tape *tp) {
  return !tg_cross_entropy(tp, f64(tp), tg_ones(tp, TG_F64, 1, S4),
                           TG_REDUCE_MEAN);
}
static bool ce_label_range(tg_tape *tp) {
  int64_t s2[1] = {2};
  return !tg_cross_entropy(tp, f64(tp), tg_full(tp, TG_F64, 1, s2, 3),
                           TG_REDUCE_MEAN);
}
static bool nll_null(tg_tape *tp) {
  return !tg_nll_loss(tp, NULL, NULL, TG_REDUCE_MEAN);
}
static bool bce_shape(tg_tape *tp) {
  return !tg_bce_with_logits(tp, f64(tp), tg_ones(tp, TG_F64, 1, S4),
                             TG_REDUCE_MEAN);
}
static bool init_null(tg_tape *tp) {
  (void)tp;
  return tg_init(NULL, TG_INIT_HE_NORMAL, 0, NULL) != TG_OK;
}
static bool init_orthogonal_1d(tg_tape *tp) {
  tg_rng r;
  tg_rng_seed(&r, 1);
  return tg_init(tg_ones(tp, TG_F64, 1, S4), TG_INIT_ORTHOGONAL, 0, &r) !=
         TG_OK;
}

/* --- files -------------------------------------------------------------------
 */
static bool st_missing(tg_tape *tp) {
  tg_params *ps = tg_params_new();
  bool failed = tg_load_safetensors(tp, ps, "/nonexistent/model.st") != TG_OK;
  tg_params_free(ps);
  return failed;
}
static bool st_directory(tg_tape *tp) {
  tg_params *ps = tg_params_new();
  bool failed = tg_load_safetensors(tp, ps, "/tmp") != TG_OK;
  tg_params_free(ps);
  return failed;
}
static bool st_save_dir(tg_tape *tp) {
  tg_params *ps = tg_params_new();
  bool failed = tg_save_safetensors(tp, ps, "/nonexistent/dir/m.st") != TG_OK;
  tg_params_free(ps);
  return failed;
}
static bool st_null(tg_tape *tp) {
  return tg_load_safetensors(tp, NULL, NULL) != TG_OK;
}
static const char *wrong_file(void) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/tg_bad_input_%d.txt", (int)getpid());
  FILE *f = fopen(path, "w");
  if (f) {
    fputs("this is not a tensor file\n", f);
    fclose(f);
  }
  return path;
}
static bool st_wrong(tg_tape *tp) {
  tg_params *ps = tg_params_new();
  bool failed = tg_load_safetensors(tp, ps, wrong_file()) != TG_OK;
  tg_params_free(ps);
  return failed;
}
static bool npy_missing(tg_tape *tp) {
  return !tg_load_npy(tp, "/nonexistent.npy");
}
static bool npy_wrong(tg_tape *tp) { return !tg_load_npy(tp, wrong_file()); }
static bool npy_save_null(tg_tape *tp) {
  return tg_save_npy(tp, NULL, "/tmp/x.npy") != TG_OK;
}
static bool idx_missing(tg_tape *tp) {
  return !tg_load_idx(tp, "/nonexistent.idx", TG_F32, 1);
}
static bool idx_wrong(tg_tape *tp) {
  return !tg_load_idx(tp, wrong_file(), TG_F32, 1);
}
static bool idx_directory(tg_tape *tp) {
  return !tg_load_idx(tp, "/tmp", TG_F32, 1);
}
static bool csv_missing(tg_tape *tp) {
  return !tg_load_csv(tp, "/nonexistent.csv", TG_F64, false);
}
static bool csv_wrong(tg_tape *tp) {
  return !tg_load_csv(tp, wrong_file(), TG_F64, false);
}
static bool batcher_zero(tg_tape *tp) {
  (void)tp;
  return !tg_batcher_new(10, 0, false, 1);
}
static bool take_rows_range(tg_tape *tp) {
  int64_t rows[1] = {5};
  return !tg_take_rows(tp, f64(tp), rows, 1);
}

/* --- models and viz ----------------------------------------------------------
 */
static bool fit_uncompiled(tg_tape *tp) {
  (void)tp;
  tg_model *m = tg_sequential_new(TG_F64, 1);
  tg_model_add_dense(m, 3, 1, TG_ACT_NONE);
  tg_tensor *x = tg_tensor_new(NULL, TG_F64, 2, S23);
  bool failed = !tg_model_fit(m, x, x, NULL) &&
                strstr(tg_model_errmsg(m), "compile") != NULL;
  tg_tensor_free(x);
  tg_model_free(m);
  return failed;
}
static bool predict_null(tg_tape *tp) {
  (void)tp;
  tg_model *m = tg_sequential_new(TG_F64, 1);
  bool failed = !tg_model_predict(m, NULL, 0);
  tg_model_free(m);
  return failed;
}
static bool model_add_null(tg_tape *tp) {
  (void)tp;
  tg_model *m = tg_sequential_new(TG_F64, 1);
  bool failed = tg_model_add(m, NULL) != TG_OK;
  tg_model_free(m);
  return failed;
}
static bool dot_null(tg_tape *tp) {
  return tg_write_dot(NULL, tp, NULL) != TG_OK;
}
static bool compare_no_grad(tg_tape *tp) {
  FILE *f = fopen("/dev/null", "w");
  double mine[6] = {0};
  bool failed = !tg_compare_grad(f, "x", f64(tp), 2, S23, mine);
  fclose(f);
  return failed;
}
static bool svg_null(tg_tape *tp) {
  (void)tp;
  return tg_history_write_svg(NULL, "/tmp/h.svg") != TG_OK;
}

#define ROW(F, EXPECT)                                                         \
  { #F, EXPECT, F }
static const bad_case table[] = {
    ROW(null_tg_neg, "tg_neg"),
    ROW(null_tg_exp, "tg_exp"),
    ROW(null_tg_log, "tg_log"),
    ROW(null_tg_sqrt, "tg_sqrt"),
    ROW(null_tg_tanh, "tg_tanh"),
    ROW(null_tg_sigmoid, "tg_sigmoid"),
    ROW(null_tg_relu, "tg_relu"),
    ROW(null_tg_abs, "tg_abs"),
    ROW(null_tg_sin, "tg_sin"),
    ROW(null_tg_cos, "tg_cos"),
    ROW(null_tg_contiguous, "tg_contiguous"),
    ROW(null_tg_sum_all, "tg_sum"),
    ROW(null_tg_mean_all, "tg_mean"),
    ROW(null_tg_gelu, "NULL"),
    ROW(null_tg_softplus, "NULL"),
    ROW(null_pow_scalar, "tg_pow_scalar"),
    ROW(null_mul_scalar, "tg_mul_scalar"),
    ROW(null_add_scalar, "tg_add_scalar"),
    ROW(null_leaky, "NULL"),
    ROW(null_elu, "NULL"),
    ROW(null_tg_add, "tg_add"),
    ROW(dtype_tg_add, "dtypes differ"),
    ROW(shape_tg_add, "do not broadcast"),
    ROW(null_tg_sub, "tg_sub"),
    ROW(dtype_tg_sub, "tg_sub"),
    ROW(shape_tg_sub, "tg_sub"),
    ROW(null_tg_mul, "tg_mul"),
    ROW(dtype_tg_mul, "tg_mul"),
    ROW(shape_tg_mul, "tg_mul"),
    ROW(null_tg_div, "tg_div"),
    ROW(dtype_tg_div, "tg_div"),
    ROW(shape_tg_div, "tg_div"),
    ROW(null_tg_pow, "tg_pow"),
    ROW(dtype_tg_pow, "tg_pow"),
    ROW(shape_tg_pow, "tg_pow"),
    ROW(null_tg_maximum, "tg_maximum"),
    ROW(dtype_tg_maximum, "tg_maximum"),
    ROW(shape_tg_maximum, "tg_maximum"),
    ROW(null_tg_minimum, "tg_minimum"),
    ROW(dtype_tg_minimum, "tg_minimum"),
    ROW(shape_tg_minimum, "tg_minimum"),
    ROW(null_tg_eq, "tg_eq"),
    ROW(dtype_tg_eq, "tg_eq"),
    ROW(shape_tg_eq, "tg_eq"),
    ROW(null_tg_ne, "tg_ne"),
    ROW(dtype_tg_ne, "tg_ne"),
    ROW(shape_tg_ne, "tg_ne"),
    ROW(null_tg_lt, "tg_lt"),
    ROW(dtype_tg_lt, "tg_lt"),
    ROW(shape_tg_lt, "tg_lt"),
    ROW(null_tg_le, "tg_le"),
    ROW(dtype_tg_le, "tg_le"),
    ROW(shape_tg_le, "tg_le"),
    ROW(null_tg_gt, "tg_gt"),
    ROW(dtype_tg_gt, "tg_gt"),
    ROW(shape_tg_gt, "tg_gt"),
    ROW(null_tg_ge, "tg_ge"),
    ROW(dtype_tg_ge, "tg_ge"),
    ROW(shape_tg_ge, "tg_ge"),
    ROW(matmul_inner, "inner dimensions differ"),
    ROW(matmul_1d, "at least 2-D"),
    ROW(matmul_dtype, "tg_matmul"),
    ROW(where_null, "tg_where"),
    ROW(where_dtype, "tg_where"),
    ROW(sum_axis, "out of range"),
    ROW(mean_axes_null, "tg_mean"),
    ROW(max_axis, "tg_max"),
    ROW(sum_to_bad, "tg_sum_to"),
    ROW(reshape_count, "cannot reshape"),
    ROW(reshape_ndim, "tg_reshape"),
    ROW(reshape_neg, "tg_reshape"),
    ROW(permute_null, "tg_permute"),
    ROW(permute_dup, "tg_permute"),
    ROW(transpose_axis, "tg_transpose"),
    ROW(expand_bad, "tg_expand"),
    ROW(expand_null, "tg_expand"),
    ROW(slice_step, "tg_slice"),
    ROW(slice_axis, "tg_slice"),
    ROW(concat_none, "tg_concat"),
    ROW(concat_shape, "tg_concat"),
    ROW(concat_dtype, "tg_concat"),
    ROW(pad_negative, "tg_pad"),
    ROW(pad_null, "tg_pad"),
    ROW(gather_range, "out of range"),
    ROW(gather_fraction, "whole number"),
    ROW(gather_negative, "tg_gather"),
    ROW(gather_nan, "tg_gather"),
    ROW(scatter_shape, "tg_scatter_add"),
    ROW(index_select_2d, "tg_index_select"),
    ROW(one_hot_range, "tg_one_hot"),
    ROW(one_hot_classes, "tg_one_hot"),
    ROW(softmax_axis, "tg_softmax"),
    ROW(log_softmax_null, "tg_log_softmax"),
    ROW(logsumexp_axis, "tg_logsumexp"),
    ROW(unfold_big, "kernel"),
    ROW(unfold_null, "tg_unfold"),
    ROW(unfold_2d, "tg_unfold"),
    ROW(fold_spatial, "tg_fold"),
    ROW(conv_channels, "channels"),
    ROW(conv_dtype, "tg_conv2d"),
    ROW(conv_groups, "tg_conv2d"),
    ROW(conv1d_rank, "tg_conv1d"),
    ROW(pool_rank, "tg_max_pool2d"),
    ROW(avg_pool_null, "tg_avg_pool2d"),
    ROW(zeros_negative, "negative"),
    ROW(ones_overflow, "too large"),
    ROW(empty_ndim, "dimensions"),
    ROW(full_dtype, "unknown dtype"),
    ROW(from_buffer_null, "tg_from_buffer"),
    ROW(from_f64_null, "tg_from_f64"),
    ROW(wrap_null, "tg_wrap_buffer"),
    ROW(arange_step, "tg_arange"),
    ROW(arange_nan, "tg_arange"),
    ROW(uniform_negative, "tg_rand_uniform"),
    ROW(normal_overflow, "tg_rand_normal"),
    ROW(tensor_new_negative, "tg_tensor_new"),
    ROW(clone_null, "tg_tensor_clone"),
    ROW(backward_null, "tg_backward"),
    ROW(backward_shape, "seed"),
    ROW(backward_const, "does not require"),
    ROW(seed_null, "tg_backward_seed"),
    ROW(seed_shape, "tg_backward_seed"),
    ROW(grad_no_inputs, "tg_grad"),
    ROW(grad_null_input, "tg_grad"),
    ROW(vjp_null, "tg_vjp"),
    ROW(jvp_tangent, "tg_jvp"),
    ROW(jacobian_wrt, "tg_jacobian"),
    ROW(hessian_null, "tg_hessian"),
    ROW(hvp_v, "tg_hvp"),
    ROW(custom_null, "tg_custom"),
    ROW(param_empty_name, "tg_param_new"),
    ROW(param_duplicate, "exists"),
    ROW(param_null_registry, "tg_param_new"),
    ROW(dense_wrong_width, "dense 'fc'"),
    ROW(conv_layer_input, "conv2d 'conv'"),
    ROW(lstm_input, "lstm 'lstm'"),
    ROW(layer_null, "tg_layer_forward"),
    ROW(layer_norm_axes, "tg_layer_norm_new"),
    ROW(sgd_no_lr, NULL),
    ROW(adam_null, NULL),
    ROW(optimizer_step_null, NULL),
    ROW(schedule_null, NULL),
    ROW(mse_shape, "tg_mse_loss"),
    ROW(l1_dtype, "tg_l1_loss"),
    ROW(huber_delta, "tg_huber_loss"),
    ROW(ce_labels, "tg_cross_entropy"),
    ROW(ce_label_range, "tg_cross_entropy"),
    ROW(nll_null, "tg_nll_loss"),
    ROW(bce_shape, "tg_bce_with_logits"),
    ROW(init_null, NULL),
    ROW(init_orthogonal_1d, NULL),
    ROW(st_missing, "tg_load_safetensors"),
    ROW(st_directory, "tg_load_safetensors"),
    ROW(st_save_dir, "tg_save_safetensors"),
    ROW(st_null, "tg_load_safetensors"),
    ROW(st_wrong, "tg_load_safetensors"),
    ROW(npy_missing, "tg_load_npy"),
    ROW(npy_wrong, "tg_load_npy"),
    ROW(npy_save_null, "tg_save_npy"),
    ROW(idx_missing, "tg_load_idx"),
    ROW(idx_wrong, "tg_load_idx"),
    ROW(idx_directory, "tg_load_idx"),
    ROW(csv_missing, "tg_load_csv"),
    ROW(csv_wrong, "tg_load_csv"),
    ROW(batcher_zero, NULL),
    ROW(take_rows_range, "tg_take_rows"),
    ROW(fit_uncompiled, NULL),
    ROW(predict_null, NULL),
    ROW(model_add_null, NULL),
    ROW(dot_null, NULL),
    ROW(compare_no_grad, NULL),
    ROW(svg_null, NULL),
};
enum { N_CASES = sizeof table / sizeof table[0] };

START_TEST(test_bad_input_is_reported) {
  const bad_case *c = &table[_i];
  tg_tape *tp = tg_tape_new();
  bool failed = c->fails(tp);
  if (!failed) ck_abort_msg("%s: the call did not report a failure", c->name);
  if (c->expect) {
    ck_assert_msg(tg_error(tp) != TG_OK, "%s: no error on the tape", c->name);
    ck_assert_msg(strstr(tg_errmsg(tp), c->expect) != NULL,
                  "%s: message '%s' lacks '%s'", c->name, tg_errmsg(tp),
                  c->expect);
  }
  tg_tape_free(tp);
}
END_TEST

int main(void) {
  printf("bad-input table: %d cases\n", (int)N_CASES);
  Suite *s = suite_create("bad_input");
  TCase *tc = tcase_create("table");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_bad_input_is_reported, 0, N_CASES);
  suite_add_tcase(s, tc);
  return tgt_run_suite(s);
}
