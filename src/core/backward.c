/* The reverse sweep. Recording order is a topological order, so the sweep
 * walks the nodes from the last to the first: by the time it reaches a node,
 * every consumer of the node's output (all recorded later) has already sent
 * its share of the gradient. */
#include <stdatomic.h>
#include <string.h>

#include "../kernels/kernels.h"
#include "internal.h"

/* Pass ids are unique across all tapes, because a heap tensor (a parameter)
 * may be used on several tapes; a tensor's pass_grad counts only when its
 * pass_id is the current pass. This makes clearing gradients between passes
 * free. */
static _Atomic uint64_t next_pass = 1;

typedef struct leaf_link {
  tg_tensor *t;
  struct leaf_link *next;
} leaf_link;

typedef struct sweep {
  tg_tape *tp;
  const char *fname;
  uint64_t pass;
  bool in_place;     /* no graph recorded: gradients may be summed in place */
  bool to_buffers;   /* tg_backward: leaves' gradients go to t->grad */
  leaf_link *leaves; /* leaves reached, for tg_backward */
} sweep;

static bool has_grad(const sweep *s, const tg_tensor *t) {
  return t->pass_id == s->pass && t->pass_grad;
}

/* t's first gradient of this pass. */
static bool first_grad(sweep *s, tg_tensor *t, tg_tensor *g, bool owned) {
  t->pass_grad = g;
  t->pass_id = s->pass;
  t->flags &= ~(unsigned)(TG_FLAG_GRAD_OWNED | TG_FLAG_GRAD_IN_LEAF);
  if (owned) t->flags |= TG_FLAG_GRAD_OWNED;
  if (t->node) return true;
  leaf_link *l = tg__arena_alloc(&s->tp->arena, sizeof *l);
  if (!l) {
    tg__fail(s->tp, TG_ERR_NOMEM, "%s: out of memory", s->fname);
    return false;
  }
  l->t = t;
  l->next = s->leaves;
  s->leaves = l;
  return true;
}

/* Whether x's elements fill its storage without gaps in some order of its
 * axes: contiguous, or a transpose or other permutation of contiguous. */
static bool dense_layout(const tg_tensor *x) {
  int order[TG_MAX_DIMS], n = 0;
  for (int d = 0; d < x->ndim; d++) {
    if (x->shape[d] == 1) continue; /* never stepped over */
    int k = n++;
    for (; k > 0 && x->strides[order[k - 1]] > x->strides[d]; k--)
      order[k] = order[k - 1];
    order[k] = d;
  }
  int64_t expect = 1;
  for (int k = 0; k < n; k++) {
    if (x->strides[order[k]] != expect) return false;
    expect *= x->shape[order[k]];
  }
  return true;
}

/* A new gradient buffer for t, laid out as the gradient it starts from
 * when that is a dense permutation: a transposed weight's gradients arrive
 * transposed, and adding them into a buffer of the same layout runs through
 * memory in order (and the transpose back to the weight is contiguous). */
static tg_tensor *new_grad_buffer(sweep *s, const tg_tensor *t,
                                  const tg_tensor *like) {
  tg_tensor *buf = tg__new_tensor(s->tp, s->fname, t->dtype, t->ndim, t->shape);
  if (buf && like && dense_layout(like))
    for (int d = 0; d < t->ndim; d++)
      buf->strides[d] = like->strides[d];
  return buf;
}

/* t's gradient as a buffer of its own that the sweep may add into: the one
 * it has when it is already such, else a new one holding the gradient so
 * far (zeros when none). */
static tg_tensor *owned_grad(sweep *s, tg_tensor *t) {
  bool had = has_grad(s, t);
  if (had && (t->flags & TG_FLAG_GRAD_OWNED)) return t->pass_grad;
  tg_tensor *buf = new_grad_buffer(s, t, had ? t->pass_grad : NULL);
  if (!buf) return NULL;
  if (had)
    tg_k_copy(t->dtype, t->ndim, t->shape, buf->data, buf->strides,
              t->pass_grad->data, t->pass_grad->strides);
  else
    tg_k_fill(t->dtype, t->ndim, t->shape, buf->data, NULL, 0.0);
  if (!had) return first_grad(s, t, buf, true) ? buf : NULL;
  t->pass_grad = buf;
  t->flags |= TG_FLAG_GRAD_OWNED;
  return buf;
}

/* Adds g to t's gradient for this pass, summing g back over broadcast axes
 * first. With a graph recorded the sum is an op; without one, the second
 * contribution goes into a new buffer of t's own and later ones are added
 * into it in place. */
static bool accumulate(sweep *s, tg_tensor *t, tg_tensor *g) {
  tg_tape *tp = s->tp;
  if (!tg__same_shape(g, t)) {
    g = tg_sum_to(tp, g, t->ndim, t->shape); /* names the shapes on error */
    if (!g) return false;
  }
  if (!has_grad(s, t)) return first_grad(s, t, g, false);
  if (s->in_place) {
    tg_tensor *sum = t->pass_grad;
    if (!(t->flags & TG_FLAG_GRAD_OWNED)) {
      sum = new_grad_buffer(s, t, t->pass_grad);
      if (!sum) return false;
    }
    tg_k_binary(TG_K_ADD, t->dtype, t->ndim, t->shape, sum->data, sum->strides,
                t->pass_grad->data, t->pass_grad->strides, g->data, g->strides);
    t->pass_grad = sum;
    t->flags |= TG_FLAG_GRAD_OWNED;
    return true;
  }
  tg_tensor *sum = tg_add(tp, t->pass_grad, g);
  if (!sum) return false;
  t->pass_grad = sum;
  return true;
}

/* For tg_backward, the heap leaf whose persistent gradient buffer can
 * take t's gradient directly: t itself, or the leaf t is a permuted view of
 * (a dense layer's W^T). Then a matrix product adds W's gradient straight
 * into W->grad (beta = 1) and no arena copy of it exists. NULL when t's
 * gradient must go the ordinary way. */
static tg_tensor *grad_home(const sweep *s, const tg_tensor *t) {
  if (!s->to_buffers || !s->in_place) return NULL;
  tg_tensor *leaf = (tg_tensor *)t;
  if (t->node) {
    if (!t->node->op->permutes) return NULL;
    leaf = t->node->inputs[0];
    if (leaf->node) return NULL;
  }
  if (!(leaf->flags & TG_FLAG_HEAP) || !leaf->requires_grad ||
      !tg_is_contiguous(leaf) ||
      (leaf->grad &&
       (leaf->grad->dtype != leaf->dtype || !tg__same_shape(leaf->grad, leaf) ||
        !tg_is_contiguous(leaf->grad))))
    return NULL;
  /* (a leaf that already holds an ordinary gradient this pass keeps it and
   * has it deposited at the end, on top of what goes in directly) */
  return leaf;
}

/* t's gradient buffer inside its leaf's persistent one (made, zeroed, if
 * the leaf has none yet); NULL (error set) when memory ran out. */
static tg_tensor *home_buffer(sweep *s, tg_tensor *t, tg_tensor *leaf) {
  if (!leaf->grad) {
    leaf->grad = tg_tensor_new(s->tp, leaf->dtype, leaf->ndim, leaf->shape);
    if (!leaf->grad) return NULL;
  }
  if (!has_grad(s, leaf)) {
    leaf->pass_grad = leaf->grad;
    leaf->pass_id = s->pass;
    leaf->flags |= TG_FLAG_GRAD_OWNED | TG_FLAG_GRAD_IN_LEAF;
  }
  if (t == leaf) return leaf->grad;
  /* the same strides and offset in the gradient as t has in the leaf: both
   * are contiguous of one shape */
  int64_t offset = ((const char *)t->data - (const char *)leaf->data) /
                   (int64_t)tg_dtype_size(leaf->dtype);
  tg_tensor *v = tg__new_view(s->tp, s->fname, leaf->grad, t->ndim, t->shape,
                              t->strides, offset);
  if (!v) return NULL;
  t->pass_grad = v;
  t->pass_id = s->pass;
  t->flags |= TG_FLAG_GRAD_OWNED | TG_FLAG_GRAD_IN_LEAF;
  return v;
}

/* Lets the op add the gradients of the inputs that already have one (or
 * all, for add_grad_first) into their buffers, marking them in
 * n->skip_grads. False (error set) when memory ran out. */
static bool direct_grads(sweep *s, tg_node *n, tg_tensor *g) {
  for (int i = 0; i < n->n_inputs && i < 32; i++) {
    tg_tensor *x = n->inputs[i];
    if (!tg__needs_grad(n, i)) continue;
    bool first = !has_grad(s, x);
    tg_tensor *home = first ? grad_home(s, x) : NULL;
    if (first && !home && !n->op->add_grad_first) continue;
    if (!n->op->add_grad_into(n, i, g, NULL)) continue; /* cannot here */
    tg_tensor *dst = home ? home_buffer(s, x, home) : owned_grad(s, x);
    if (!dst) return false;
    if (n->op->add_grad_into(n, i, g, dst)) n->skip_grads |= 1u << i;
  }
  return true;
}

/* A tensor the rule will read must hold the values it had when the node was
 * recorded; an in-place write since (an optimizer step, tg_fill, a load)
 * would make the gradient silently wrong. */
static bool saved_intact(tg_tape *tp, const char *fname, const tg_node *n) {
  char label[96];
  for (int i = 0; i <= n->n_inputs; i++) {
    bool is_out = i == n->n_inputs;
    if (!(n->op->saves & (is_out ? TG_SAVES_OUTPUT : TG_SAVES_INPUT(i))))
      continue;
    const tg_tensor *t = is_out ? n->out : n->inputs[i];
    uint32_t then = is_out ? n->out_version : n->versions[i];
    if (tg__version(t) == then) continue;
    char which[32];
    if (is_out)
      snprintf(which, sizeof which, "the output");
    else
      snprintf(which, sizeof which, "input #%d", i + 1);
    tg__fail(tp, TG_ERR_STATE,
             "%s: %s of %s (tape position %d) was changed in place after it "
             "was saved for backward (version %u when saved, %u now)",
             fname, which, tg__op_label(n->op, label, sizeof label), n->index,
             then, tg__version(t));
    return false;
  }
  return true;
}

/* Checks what a backward rule returned for input i: its dtype, its shape
 * (exactly the input's for custom ops), and in anomaly mode its values. */
static bool check_rule_result(tg_tape *tp, const tg_node *n, int i,
                              const tg_tensor *g) {
  const tg_tensor *x = n->inputs[i];
  char label[96], bg[96], bx[96];
  if (g->dtype != x->dtype) {
    tg__fail(tp, TG_ERR_DTYPE,
             "backward of %s: gradient for input #%d has dtype %s, input "
             "has %s",
             tg__op_label(n->op, label, sizeof label), i + 1,
             tg_dtype_name(g->dtype), tg_dtype_name(x->dtype));
    return false;
  }
  if (n->op->strict_grad_shapes && !tg__same_shape(g, x)) {
    tg__fail(tp, TG_ERR_SHAPE,
             "backward of %s: gradient for input #%d has shape %s, input "
             "has %s",
             tg__op_label(n->op, label, sizeof label), i + 1,
             tg_shape_str(g, bg, sizeof bg), tg_shape_str(x, bx, sizeof bx));
    return false;
  }
  if (tp->anomaly && !tg__anomaly_check_backward(tp, n, i, g)) return false;
  return true;
}

/* Adds the gradient values g into the persistent buffer t->grad. */
static bool deposit(tg_tape *tp, const char *fname, tg_tensor *t,
                    const tg_tensor *g) {
  if (!t->grad) {
    tg_tensor *buf =
        (t->flags & TG_FLAG_HEAP)
            ? tg_tensor_new(tp, t->dtype, t->ndim, t->shape)
            : tg__new_tensor(tp, fname, t->dtype, t->ndim, t->shape);
    if (!buf) return false;
    tg_k_copy(t->dtype, t->ndim, t->shape, buf->data, NULL, g->data,
              g->strides);
    t->grad = buf;
    return true;
  }
  tg_k_binary(TG_K_ADD, t->dtype, t->ndim, t->shape, t->grad->data,
              t->grad->strides, t->grad->data, t->grad->strides, g->data,
              g->strides);
  return true;
}

static tg_status run(tg_tape *tp, const char *fname, int n_out,
                     tg_tensor *const *outputs, tg_tensor *const *seeds,
                     bool create_graph, bool to_buffers) {
  char b1[96], b2[96];
  /* A sweep on a tape that already holds an error could not report its own
   * failures (the first error is kept), so it does not start. */
  if (tp->err) return tp->err;
  if (n_out <= 0 || !outputs) {
    tg__fail(tp, TG_ERR_ARG, "%s: no outputs given", fname);
    return tp->err;
  }
  tg_node *start = NULL;
  for (int j = 0; j < n_out; j++) {
    tg_tensor *y = outputs[j];
    if (!y) {
      tg__fail(tp, TG_ERR_NULL, "%s: output #%d is NULL", fname, j + 1);
      return tp->err;
    }
    /* tg_backward with nothing to differentiate is a caller's mistake;
     * for tg_grad a constant output simply contributes zero. */
    if (!y->requires_grad && to_buffers) {
      tg__fail(tp, TG_ERR_STATE,
               "%s: output #%d does not require a gradient "
               "(nothing it depends on requires one, or it was made in "
               "no-grad mode)",
               fname, j + 1);
      return tp->err;
    }
    const tg_tensor *seed = seeds ? seeds[j] : NULL;
    if (seed && (seed->dtype != y->dtype || !tg__same_shape(seed, y))) {
      tg__fail(tp, TG_ERR_SHAPE, "%s: seed #%d is %s %s but output is %s %s",
               fname, j + 1, tg_shape_str(seed, b1, sizeof b1),
               tg_dtype_name(seed->dtype), tg_shape_str(y, b2, sizeof b2),
               tg_dtype_name(y->dtype));
      return tp->err;
    }
    if (!seed && y->numel != 1) {
      tg__fail(tp, TG_ERR_SHAPE,
               "%s: output #%d has shape %s; give a seed "
               "gradient for an output with more than one element",
               fname, j + 1, tg_shape_str(y, b1, sizeof b1));
      return tp->err;
    }
    if (y->node && (!start || y->node->index > start->index)) start = y->node;
  }

  sweep s = {tp,         fname, atomic_fetch_add(&next_pass, 1), !create_graph,
             to_buffers, NULL};
  bool prev_mode = tg_set_grad_enabled(tp, create_graph);
  tg_status st = TG_OK;
  for (int j = 0; j < n_out && st == TG_OK; j++) {
    if (!outputs[j]->requires_grad) continue;
    tg_tensor *seed = seeds ? seeds[j] : NULL;
    if (!seed)
      seed =
          tg_ones(tp, outputs[j]->dtype, outputs[j]->ndim, outputs[j]->shape);
    if (!seed || !accumulate(&s, outputs[j], seed)) st = TG_ERR_NOMEM;
  }
  tp->sweeping = true;
  if (tp->trace_fn) tp->trace_fn(tp, 0, start, NULL, NULL, NULL);
  for (tg_node *n = start; n && st == TG_OK && !tp->err; n = n->prev) {
    tg_tensor *out = n->out;
    if (!has_grad(&s, out)) continue; /* not on a path to the outputs */
    tg_tensor *g = out->pass_grad;
    /* a permuted view whose gradient went straight into its leaf's buffer:
     * the rule has nothing left to do */
    if (out->flags & TG_FLAG_GRAD_IN_LEAF) continue;
    if (to_buffers && (out->flags & TG_FLAG_RETAIN_GRAD) &&
        !deposit(tp, fname, out, g))
      break;
    tg_tensor *small[8] = {NULL}, **gin = small;
    if (n->n_inputs > 8) {
      gin = tg__arena_alloc(&tp->arena, sizeof *gin * n->n_inputs);
      if (!gin) {
        tg__fail(tp, TG_ERR_NOMEM, "%s: out of memory", fname);
        break;
      }
      for (int i = 0; i < n->n_inputs; i++)
        gin[i] = NULL;
    }
    if (!saved_intact(tp, fname, n)) break;
    /* Gradients the op can add straight into its inputs' buffers (the
     * traced and checked path below builds them with the rule instead). */
    n->skip_grads = 0;
    if (s.in_place && n->op->add_grad_into && !tp->trace_fn && !tp->anomaly &&
        !direct_grads(&s, n, g))
      break;
    bool rest = false;
    for (int i = 0; i < n->n_inputs && !rest; i++)
      rest = tg__needs_grad(n, i);
    if (!rest) { /* every gradient is in place */
      n->skip_grads = 0;
      continue;
    }
    n->op->backward(tp, n, g, gin);
    n->skip_grads = 0;
    if (tp->trace_fn) {
      bool adds[8] = {false};
      for (int i = 0; i < n->n_inputs && i < 8; i++)
        adds[i] = has_grad(&s, n->inputs[i]);
      tp->trace_fn(tp, 1, n, g, gin, adds);
    }
    for (int i = 0; i < n->n_inputs && !tp->err; i++) {
      if (!tg__needs_grad(n, i) || !gin[i]) continue;
      if (!check_rule_result(tp, n, i, gin[i])) break;
      accumulate(&s, n->inputs[i], gin[i]);
    }
  }
  tp->sweeping = false;
  if (tp->trace_fn) tp->trace_fn(tp, 2, NULL, NULL, NULL, NULL);
  if (to_buffers && !tp->err) {
    for (leaf_link *l = s.leaves; l; l = l->next)
      if (!deposit(tp, fname, l->t, l->t->pass_grad)) break;
  }
  tg_set_grad_enabled(tp, prev_mode);
  if (tp->err) return tp->err;
  /* Remember the pass for tg_grad to read the results. */
  tp->pass = s.pass;
  return TG_OK;
}

tg_status tg_backward(tg_tape *tp, tg_tensor *y) {
  if (!tp) return TG_ERR_NULL;
  return run(tp, "tg_backward", 1, &y, NULL, false, true);
}

tg_status tg_backward_seed(tg_tape *tp, tg_tensor *y, const tg_tensor *seed) {
  if (!tp) return TG_ERR_NULL;
  if (!seed) {
    tg__fail(tp, TG_ERR_NULL, "tg_backward_seed: seed is NULL");
    return tp->err;
  }
  tg_tensor *sd = (tg_tensor *)seed; /* only read */
  return run(tp, "tg_backward_seed", 1, &y, &sd, false, true);
}

tg_status tg_grad(tg_tape *tp, int n_outputs, tg_tensor *const *outputs,
                  tg_tensor *const *seeds, int n_inputs,
                  tg_tensor *const *inputs, tg_tensor **grads,
                  bool create_graph) {
  if (!tp) return TG_ERR_NULL;
  if (n_inputs <= 0 || !inputs || !grads) {
    tg__fail(tp, TG_ERR_ARG,
             "tg_grad: no inputs or no place for the "
             "gradients");
    return tp->err;
  }
  for (int i = 0; i < n_inputs; i++) {
    grads[i] = NULL;
    if (!inputs[i]) {
      tg__fail(tp, TG_ERR_NULL, "tg_grad: input #%d is NULL", i + 1);
      return tp->err;
    }
  }
  tg_status st =
      run(tp, "tg_grad", n_outputs, outputs, seeds, create_graph, false);
  if (st != TG_OK) return st;
  for (int i = 0; i < n_inputs; i++) {
    tg_tensor *x = inputs[i];
    if (x->pass_id == tp->pass && x->pass_grad) {
      grads[i] = x->pass_grad;
    } else {
      grads[i] = tg_zeros(tp, x->dtype, x->ndim, x->shape);
      if (!grads[i]) return tp->err;
    }
  }
  return TG_OK;
}
