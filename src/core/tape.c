/* The tape: recorded nodes, the arena that owns every intermediate, grad
 * mode, the sticky error and the random generator. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

tg_tape *tg_tape_new(void) {
  tg_tape *tp = tg__malloc(sizeof *tp);
  if (!tp) return NULL;
  memset(tp, 0, sizeof *tp);
  tp->grad_enabled = true;
  tg_rng_seed(&tp->rng, 0);
  return tp;
}

void tg_tape_free(tg_tape *tp) {
  if (!tp) return;
  tg__arena_release(&tp->arena);
  tg__free(tp);
}

void tg_tape_reset(tg_tape *tp) {
  if (!tp) return;
  tg__arena_reset(&tp->arena);
  tp->first = tp->last = NULL;
  tp->n_nodes = 0;
}

size_t tg_tape_nodes(const tg_tape *tp) { return tp ? tp->n_nodes : 0; }
size_t tg_tape_bytes(const tg_tape *tp) { return tp ? tp->arena.used : 0; }

/* --- errors -------------------------------------------------------------- */

static const char *const status_text[TG_ERR_COUNT] = {
    [TG_OK] = "no error",
    [TG_ERR_NULL] = "a required argument is NULL",
    [TG_ERR_DTYPE] = "dtype mismatch or unsupported dtype",
    [TG_ERR_SHAPE] = "incompatible shapes",
    [TG_ERR_AXIS] = "axis out of range",
    [TG_ERR_ARG] = "invalid argument",
    [TG_ERR_NOMEM] = "out of memory",
    [TG_ERR_STATE] = "call does not fit the current state",
    [TG_ERR_NUMERIC] = "non-finite value found in anomaly mode",
};

const char *tg_strerror(tg_status code) {
  if ((int)code < 0 || code >= TG_ERR_COUNT) return "unknown status code";
  return status_text[code];
}

tg_status tg_error(const tg_tape *tp) { return tp ? tp->err : TG_ERR_NULL; }

const char *tg_errmsg(const tg_tape *tp) {
  return tp ? tp->errmsg : "tg_errmsg: tape is NULL";
}

void tg_clear_error(tg_tape *tp) {
  if (!tp) return;
  tp->err = TG_OK;
  tp->errmsg[0] = '\0';
}

void *tg__fail(tg_tape *tp, tg_status code, const char *fmt, ...) {
  if (!tp || tp->err != TG_OK) return NULL;
  tp->err = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tp->errmsg, sizeof tp->errmsg, fmt, ap);
  va_end(ap);
  return NULL;
}

bool tg__inputs_ok(tg_tape *tp, const char *op, int n, tg_tensor *const *in) {
  if (!tp) return false;
  for (int i = 0; i < n; i++) {
    if (!in[i]) {
      tg__fail(tp, TG_ERR_NULL, "%s: input #%d is NULL", op, i + 1);
      return false;
    }
  }
  return true;
}

/* --- grad mode and randomness -------------------------------------------- */

bool tg_grad_enabled(const tg_tape *tp) { return tp && tp->grad_enabled; }

bool tg_set_grad_enabled(tg_tape *tp, bool enabled) {
  if (!tp) return false;
  bool prev = tp->grad_enabled;
  tp->grad_enabled = enabled;
  return prev;
}

void tg_tape_seed(tg_tape *tp, uint64_t seed) {
  if (tp) tg_rng_seed(&tp->rng, seed);
}

tg_rng *tg_tape_rng(tg_tape *tp) { return tp ? &tp->rng : NULL; }

/* --- recording ----------------------------------------------------------- */

bool tg__will_record(const tg_tape *tp, int n, tg_tensor *const *in) {
  if (!tp->grad_enabled) return false;
  for (int i = 0; i < n; i++)
    if (in[i] && in[i]->requires_grad) return true;
  return false;
}

bool tg__record(tg_tape *tp, const tg_op_def *op, int n_inputs,
                tg_tensor *const *inputs, tg_tensor *out, tg_node **node) {
  if (node) *node = NULL;
  if (tp->anomaly && !tg__anomaly_check_forward(tp, op, n_inputs, inputs, out))
    return false;
  if (!tg__will_record(tp, n_inputs, inputs)) return true;
  char label[96];
  tg_node *n = tg__arena_alloc(&tp->arena, sizeof *n);
  tg_tensor **slots = NULL;
  uint32_t *versions = NULL;
  if (n && n_inputs > TG_NODE_INLINE_INPUTS) {
    slots = tg__arena_alloc(&tp->arena, sizeof(tg_tensor *) * n_inputs);
    versions = tg__arena_alloc(&tp->arena, sizeof(uint32_t) * n_inputs);
  }
  if (!n || (n_inputs > TG_NODE_INLINE_INPUTS && (!slots || !versions))) {
    tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory recording the node",
             tg__op_label(op, label, sizeof label));
    return false;
  }
  memset(n, 0, sizeof *n);
  n->op = op;
  n->index = (int)tp->n_nodes;
  n->n_inputs = n_inputs;
  n->inputs = slots ? slots : n->inline_inputs;
  n->versions = versions ? versions : n->inline_versions;
  for (int i = 0; i < n_inputs; i++) {
    n->inputs[i] = inputs[i];
    n->versions[i] = tg__version(inputs[i]);
  }
  n->out = out;
  n->out_version = tg__version(out);
  n->file = tp->file;
  n->line = tp->line;
  n->prev = tp->last;
  if (tp->last)
    tp->last->next = n;
  else
    tp->first = n;
  tp->last = n;
  tp->n_nodes++;
  out->node = n;
  out->requires_grad = true;
  if (node) *node = n;
  return true;
}

const char *tg__op_label(const tg_op_def *op, char *buf, size_t size) {
  if (op->strict_grad_shapes)
    snprintf(buf, size, "custom op '%s'", op->name);
  else
    snprintf(buf, size, "tg_%s", op->name);
  return buf;
}

tg_tensor *tg__replay_plain(tg_tape *tp, const tg_node *n,
                            tg_tensor *const *inputs) {
  if (n->op->unary) return n->op->unary(tp, inputs[0]);
  if (n->op->binary) return n->op->binary(tp, inputs[0], inputs[1]);
  return tg__fail(tp, TG_ERR_STATE, "tg_%s: cannot be replayed", n->op->name);
}

/* --- anomaly mode and source locations ----------------------------------- */

void tg_set_anomaly_mode(tg_tape *tp, bool on) {
  if (tp) tp->anomaly = on;
}

bool tg_anomaly_mode(const tg_tape *tp) { return tp && tp->anomaly; }

void tg_set_location(tg_tape *tp, const char *file, int line) {
  if (!tp) return;
  tp->file = file;
  tp->line = line;
}

bool tg__node_set_extra(tg_tape *tp, tg_node *n, const int64_t *vals,
                        int count) {
  int64_t *copy = tg__arena_alloc(&tp->arena, sizeof(int64_t) * (size_t)count);
  if (!copy) {
    tg__fail(tp, TG_ERR_NOMEM, "tg_%s: out of memory recording the node",
             n->op->name);
    return false;
  }
  for (int i = 0; i < count; i++)
    copy[i] = vals[i];
  n->extra = copy;
  n->n_extra = count;
  return true;
}
