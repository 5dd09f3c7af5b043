/* Recurrent layers on the dynamic tape: one loop iteration per time step.
 * The input's contribution to every gate at every step is one matmul before
 * the loop; inside it, one matmul per step adds the hidden state's
 * contribution to all gates at once (tg_addmm: on top of the input's, with
 * no separate add), and the gates are slices of it. */
#include <string.h>

#include "layer_internal.h"

typedef enum { CELL_RNN = 1, CELL_GRU = 3, CELL_LSTM = 4 } cell_kind;

static tg_tensor *recurrent_layer_forward(tg_tape *tp, tg_layer *l,
                                          tg_tensor *x) {
  return tg_recurrent_forward(tp, l, x, NULL, NULL, NULL, NULL);
}
static const tg_layer_class RNN = {"rnn", recurrent_layer_forward};
static const tg_layer_class LSTM = {"lstm", recurrent_layer_forward};
static const tg_layer_class GRU = {"gru", recurrent_layer_forward};

static bool is_recurrent(const tg_layer *l) {
  return l->cls == &RNN || l->cls == &LSTM || l->cls == &GRU;
}

static cell_kind kind_of(const tg_layer *l) { return (cell_kind)l->sizes[2]; }

/* Gate k of the [B, G*H] pre-activations. */
static tg_tensor *gate(tg_tape *tp, tg_tensor *z, int k, int64_t h) {
  return tg_slice(tp, z, 1, k * h, (k + 1) * h, 1);
}

/* One step: the new hidden state (and cell state for LSTM). xw is this
 * step's input contribution [B, G*H] with b_ih added, and for RNN and LSTM
 * b_hh as well (GRU keeps b_hh with the hidden contribution, since r
 * scales that part of n). w_hh_t is W_hh^T, one view for all steps. */
static tg_tensor *cell_step(tg_tape *tp, const tg_layer *l, tg_tensor *xw,
                            tg_tensor *w_hh_t, tg_tensor *h, tg_tensor **c) {
  int64_t hid = l->sizes[1];
  switch (kind_of(l)) {
  case CELL_RNN: /* h = tanh(x W_ih^T + b_ih + b_hh + h W_hh^T) */
    return tg_tanh(tp, tg_addmm(tp, xw, h, w_hh_t));
  case CELL_LSTM: { /* gates i, f, g, o */
    tg_tensor *z = tg_addmm(tp, xw, h, w_hh_t);
    tg_tensor *i = tg_sigmoid(tp, gate(tp, z, 0, hid));
    tg_tensor *f = tg_sigmoid(tp, gate(tp, z, 1, hid));
    tg_tensor *g = tg_tanh(tp, gate(tp, z, 2, hid));
    tg_tensor *o = tg_sigmoid(tp, gate(tp, z, 3, hid));
    *c = tg_add(tp, tg_mul(tp, f, *c), tg_mul(tp, i, g));
    return tg_mul(tp, o, tg_tanh(tp, *c));
  }
  case CELL_GRU: { /* r, z from both; n = tanh(x_n + r * h_n) */
    tg_tensor *hw = tg_addmm(tp, l->params[3], h, w_hh_t);
    tg_tensor *r =
        tg_sigmoid(tp, tg_add(tp, gate(tp, xw, 0, hid), gate(tp, hw, 0, hid)));
    tg_tensor *u =
        tg_sigmoid(tp, tg_add(tp, gate(tp, xw, 1, hid), gate(tp, hw, 1, hid)));
    tg_tensor *n = tg_tanh(tp, tg_add(tp, gate(tp, xw, 2, hid),
                                      tg_mul(tp, r, gate(tp, hw, 2, hid))));
    /* h' = (1 - z) n + z h = n + z (h - n) */
    return tg_add(tp, n, tg_mul(tp, u, tg_sub(tp, h, n)));
  }
  }
  return NULL;
}

static bool state_ok(tg_tape *tp, const tg_layer *l, const tg_tensor *s,
                     int64_t b, const char *what) {
  if (!s || (s->ndim == 2 && s->shape[0] == b && s->shape[1] == l->sizes[1]))
    return true;
  char want[64], got[96];
  snprintf(want, sizeof want, "[%lld, %lld]", (long long)b,
           (long long)l->sizes[1]);
  tg__fail(tp, TG_ERR_SHAPE, "%s '%s': expected %s %s, got %s", l->cls->kind,
           l->name, what, want, tg_shape_str(s, got, sizeof got));
  return false;
}

tg_tensor *tg_recurrent_forward(tg_tape *tp, tg_layer *l, tg_tensor *x,
                                tg_tensor *h0, tg_tensor *c0, tg_tensor **h_n,
                                tg_tensor **c_n) {
  if (!tp) return NULL;
  if (!l || !x || !is_recurrent(l))
    return tg__fail(tp, l && x ? TG_ERR_ARG : TG_ERR_NULL,
                    "tg_recurrent_forward: needs a recurrent layer and an "
                    "input");
  int64_t in = l->sizes[0], hid = l->sizes[1], gates = l->sizes[2];
  if (x->ndim != 3 || x->shape[2] != in) {
    char want[64];
    snprintf(want, sizeof want, "[B, T, %lld]", (long long)in);
    return tg__layer_shape_error(tp, l, want, x);
  }
  int64_t b = x->shape[0], steps = x->shape[1];
  if (!state_ok(tp, l, h0, b, "h0") || !state_ok(tp, l, c0, b, "c0"))
    return NULL;
  int64_t sshape[2] = {b, hid};
  tg_tensor *h = h0 ? h0 : tg_zeros(tp, x->dtype, 2, sshape);
  tg_tensor *c = c0 ? c0 : tg_zeros(tp, x->dtype, 2, sshape);
  /* All steps' input contributions at once, time-major so that each step's
   * slice is contiguous: [T, B, G*H]. The input is made time-major first:
   * it is G*H/in times smaller than the product (8x in W4), and one tall
   * matmul over [T*B, in] then gives the product in that order. */
  int perm[3] = {1, 0, 2};
  /* b_hh joins b_ih once for all steps rather than at each step (one
   * gradient sum instead of T): the same sum, grouped differently. */
  tg_tensor *bias = l->params[2];
  if (kind_of(l) != CELL_GRU) bias = tg_add(tp, bias, l->params[3]);
  tg_tensor *xt = tg_contiguous(tp, tg_permute(tp, x, perm));
  tg_tensor *xw = tg_addmm(tp, bias, xt, tg_transpose(tp, l->params[0], 0, 1));
  tg_tensor *w_hh_t = tg_transpose(tp, l->params[1], 0, 1);
  int64_t step_shape[2] = {b, gates * hid}, out_shape[3] = {b, 1, hid};
  tg_tensor **outs = NULL;
  if (steps > 0) {
    outs = tg__arena_alloc(&tp->arena, sizeof *outs * (size_t)steps);
    if (!outs) return tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory", l->name);
  }
  for (int64_t t = 0; t < steps; t++) {
    tg_tensor *xt =
        tg_reshape(tp, tg_slice(tp, xw, 0, t, t + 1, 1), 2, step_shape);
    h = cell_step(tp, l, xt, w_hh_t, h, &c);
    outs[t] = tg_reshape(tp, h, 3, out_shape);
    if (!outs[t]) return NULL;
  }
  if (h_n) *h_n = h;
  if (c_n) *c_n = kind_of(l) == CELL_LSTM ? c : NULL;
  if (steps == 0) {
    int64_t empty[3] = {b, 0, hid};
    return tg_zeros(tp, x->dtype, 3, empty);
  }
  return tg_concat(tp, (int)steps, outs, 1);
}

static tg_layer *recurrent_new(const tg_layer_class *cls, tg_params *ps,
                               tg_tape *tp, const char *name, int64_t in,
                               int64_t hid, cell_kind kind, tg_dtype dtype,
                               tg_rng *rng) {
  tg_layer *l = tg__layer_new(cls, name);
  if (!l) return tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory", cls->kind);
  l->sizes[0] = in;
  l->sizes[1] = hid;
  l->sizes[2] = kind;
  int64_t g = kind * hid;
  int64_t wih[2] = {g, in}, whh[2] = {g, hid}, bs[1] = {g};
  tg_rng fallback;
  if (!rng) {
    tg_rng_seed(&fallback, 0);
    rng = &fallback;
  }
  tg_tensor *w_ih = tg__layer_add(l, ps, tp, "weight_ih_l0", dtype, 2, wih, -1);
  tg_tensor *w_hh = tg__layer_add(l, ps, tp, "weight_hh_l0", dtype, 2, whh, -1);
  tg_tensor *b_ih = tg__layer_add(l, ps, tp, "bias_ih_l0", dtype, 1, bs, -1);
  if (!w_ih || !w_hh || !b_ih ||
      !tg__layer_add(l, ps, tp, "bias_hh_l0", dtype, 1, bs, -1))
    return tg__layer_fail(l);
  /* Glorot for the input weights and an orthogonal matrix per gate for the
   * recurrent ones (Keras's choices). */
  if (tg_init(w_ih, TG_INIT_GLOROT_UNIFORM, 0, rng)) return tg__layer_fail(l);
  for (int k = 0; k < (int)kind; k++) {
    int64_t block[2] = {hid, hid};
    tg_tensor *q = tg_tensor_new(tp, dtype, 2, block);
    /* tg_init reports no message (it has no tape): its QR scratch can run
     * out of memory, which must not pass as a silent NULL. */
    tg_status st = q ? tg_init(q, TG_INIT_ORTHOGONAL, 0, rng) : TG_OK;
    if (st != TG_OK)
      tg__fail(tp, st, "%s '%s': %s initialising weight_hh_l0", cls->kind,
               l->name, tg_strerror(st));
    if (!q || st != TG_OK) {
      tg_tensor_free(q);
      return tg__layer_fail(l);
    }
    size_t bytes = (size_t)(hid * hid) * tg_dtype_size(dtype);
    memcpy((char *)w_hh->data + (size_t)k * bytes, q->data, bytes);
    tg_tensor_free(q);
  }
  if (kind == CELL_LSTM) /* forget-gate bias 1: remember by default */
    for (int64_t j = hid; j < 2 * hid; j++) {
      if (dtype == TG_F32)
        ((float *)b_ih->data)[j] = 1.0f;
      else
        ((double *)b_ih->data)[j] = 1.0;
    }
  return l;
}

tg_layer *tg_rnn_new(tg_params *ps, tg_tape *tp, const char *name, int64_t in,
                     int64_t hidden, tg_dtype dtype, tg_rng *rng) {
  return recurrent_new(&RNN, ps, tp, name, in, hidden, CELL_RNN, dtype, rng);
}

tg_layer *tg_lstm_new(tg_params *ps, tg_tape *tp, const char *name, int64_t in,
                      int64_t hidden, tg_dtype dtype, tg_rng *rng) {
  return recurrent_new(&LSTM, ps, tp, name, in, hidden, CELL_LSTM, dtype, rng);
}

tg_layer *tg_gru_new(tg_params *ps, tg_tape *tp, const char *name, int64_t in,
                     int64_t hidden, tg_dtype dtype, tg_rng *rng) {
  return recurrent_new(&GRU, ps, tp, name, in, hidden, CELL_GRU, dtype, rng);
}
