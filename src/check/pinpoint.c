/* Pinpointing: when a composite function's gradient is wrong, re-check each
 * recorded node on its actual inputs and name the first whose backward rule
 * disagrees with finite differences. Each node is checked by gradcheck
 * itself, on a function that replays the node's op. */
#include <stdio.h>
#include <string.h>

#include "check_internal.h"

typedef struct node_ctx {
  const tg_node *node;
  const double *weights; /* fixed random weights over the node's output */
} node_ctx;

/* sum(op(x) * W): a scalar whose gradient exercises every output element
 * with a different weight, so errors cannot cancel. */
static tg_tensor *node_fn(tg_tape *tp, tg_tensor *const *x, void *ud) {
  const node_ctx *c = ud;
  tg_tensor *out = c->node->op->replay(tp, c->node, x);
  if (!out) return NULL;
  tg_tensor *w = tg_from_f64(tp, out->dtype, out->ndim, out->shape, c->weights);
  return tg_sum_all(tp, tg_mul(tp, out, w));
}

/* Copies of the node's inputs on tp, in dtype `as` (-1: their own). */
static bool copy_inputs(tg_tape *tp, const tg_node *n, int as,
                        tg_tensor **out) {
  for (int i = 0; i < n->n_inputs; i++) {
    const tg_tensor *x = n->inputs[i];
    tg_tensor *c =
        tg_empty(tp, as < 0 ? x->dtype : (tg_dtype)as, x->ndim, x->shape);
    if (!c) return false;
    if (c->dtype == x->dtype)
      tg_copy_out(x, c->data);
    else {
      double *tmp = tg__malloc(sizeof(double) * (size_t)(x->numel + 1));
      if (!tmp) return false;
      tg_copy_out_f64(x, tmp);
      tg_tensor *conv = tg_from_f64(tp, c->dtype, x->ndim, x->shape, tmp);
      tg__free(tmp);
      if (!conv) return false;
      c = conv;
    }
    out[i] = c;
  }
  return true;
}

static void describe(const tg_node *n, tg_node_check *res) {
  tg__op_label(n->op, res->op, sizeof res->op);
  size_t pos = 0;
  res->inputs[0] = '\0';
  for (int i = 0; i < n->n_inputs && pos < sizeof res->inputs; i++) {
    char shape[96];
    pos += (size_t)snprintf(res->inputs + pos, sizeof res->inputs - pos,
                            "%s%s %s", i ? ", " : "",
                            tg_shape_str(n->inputs[i], shape, sizeof shape),
                            tg_dtype_name(n->inputs[i]->dtype));
  }
  if (n->file)
    snprintf(res->location, sizeof res->location, "%s:%d", n->file, n->line);
  res->position = n->index;
}

/* Checks one node; true with *bad set when it disagrees. */
static bool check_node(tg_tape *scratch, const tg_node *n,
                       const tg_gradcheck_opts *opts, int order, uint32_t mask,
                       bool *bad, tg_gradcheck_report *rep) {
  tg_rng rng;
  tg_rng_seed(&rng, (opts ? opts->seed : 42) + (uint64_t)n->index);
  int64_t m = n->out->numel;
  double *w = tg__malloc(sizeof(double) * (size_t)(m + 1));
  if (!w) return false;
  for (int64_t k = 0; k < m; k++)
    w[k] = tg_rng_normal(&rng);
  node_ctx ctx = {n, w};
  tg_gradcheck_opts o;
  tg_gradcheck_defaults(&o);
  if (opts) o = *opts;
  o.fast = true;
  o.projections = 2;
  o.no_pinpoint = true;
  o.inputs = mask;
  tg_tensor *x[TG_GRADCHECK_MAX_INPUTS];
  /* In f64 first (reliable differences); in the node's own dtype if the
   * op refuses f64 (a custom op may). */
  tg_status st = TG_ERR_STATE;
  for (int attempt = 0; attempt < 2 && st != TG_OK; attempt++) {
    tg_tape_reset(scratch);
    if (!copy_inputs(scratch, n, attempt == 0 ? TG_F64 : -1, x)) break;
    st = order == 2 ? tg_gradgradcheck(node_fn, &ctx, n->n_inputs, x, &o, rep)
                    : tg_gradcheck(node_fn, &ctx, n->n_inputs, x, &o, rep);
  }
  tg__free(w);
  if (st != TG_OK) return false;
  *bad = !rep->passed;
  return true;
}

tg_status tg_check_nodes(tg_tape *tp, const tg_gradcheck_opts *opts,
                         tg_node_check *res) {
  return gc_check_nodes(tp, opts, 1, res);
}

tg_status gc_check_nodes(tg_tape *tp, const tg_gradcheck_opts *opts, int order,
                         tg_node_check *res) {
  if (!res) return TG_ERR_NULL;
  memset(res, 0, sizeof *res);
  res->input = -1;
  if (!tp) return TG_ERR_NULL;
  tg_tape *scratch = tg_tape_new();
  if (!scratch) return TG_ERR_NOMEM;
  for (const tg_node *n = tp->first; n && !res->found; n = n->next) {
    if (!n->op->replay || n->n_inputs > TG_GRADCHECK_MAX_INPUTS) continue;
    uint32_t mask = 0;
    for (int i = 0; i < n->n_inputs; i++)
      if (n->inputs[i]->requires_grad) mask |= 1u << i;
    if (!mask) continue;
    tg_gradcheck_report rep;
    bool bad = false;
    if (!check_node(scratch, n, opts, order, mask, &bad, &rep)) continue;
    res->nodes_checked++;
    if (!bad) continue;
    res->found = true;
    describe(n, res);
    snprintf(res->error, sizeof res->error, "%s", rep.backward_error);
    for (int i = 0; i < n->n_inputs; i++) {
      if (rep.inputs[i].checked && !rep.inputs[i].passed) {
        res->input = i;
        res->analytic = rep.inputs[i].analytic;
        res->numeric = rep.inputs[i].numeric;
        break;
      }
    }
  }
  tg_tape_free(scratch);
  return TG_OK;
}
