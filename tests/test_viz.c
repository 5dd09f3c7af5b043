/* Seeing the tape: the exact text of tg_print_tape, tg_write_dot and
 * tg_print_saved for a fixed graph (so any change of format is deliberate),
 * the traced sweep against tg_backward, and tg_compare_grad's verdicts. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "tapegrad.h"

/* --- capturing what a printer writes ------------------------------------- */

typedef struct capture {
  FILE *f;
  char *text;
  size_t len;
} capture;

static void capture_begin(capture *c) {
  c->text = NULL;
  c->len = 0;
  c->f = open_memstream(&c->text, &c->len);
  ck_assert_ptr_nonnull(c->f);
}

/* The text written since capture_begin; free it with free(). */
static char *capture_end(capture *c) {
  ck_assert_int_eq(fclose(c->f), 0);
  ck_assert_ptr_nonnull(c->text);
  return c->text;
}

/* Like ck_assert_str_eq, but names the first line that differs. */
static void assert_text(const char *got, const char *want) {
  if (strcmp(got, want) == 0) return;
  int line = 1;
  const char *g = got, *w = want, *gl = got, *wl = want;
  while (*g && *g == *w) {
    if (*g == '\n') {
      line++;
      gl = g + 1;
      wl = w + 1;
    }
    g++;
    w++;
  }
  int gn = (int)strcspn(gl, "\n"), wn = (int)strcspn(wl, "\n");
  ck_abort_msg("text differs at line %d:\n  got:  %.*s\n  want: %.*s\n"
               "whole text:\n%s",
               line, gn, gl, wn, wl, got);
}

/* --- the fixed graph: micrograd's neuron -------------------------------- */

typedef struct neuron {
  tg_tape *tp;
  tg_tensor *x1, *w1, *x2, *w2, *b, *n, *o;
} neuron;

static tg_tensor *named_leaf(tg_tape *tp, const char *name, double v) {
  return tg_set_name(tg_set_requires_grad(tg_scalar(tp, TG_F64, v), true),
                     name);
}

/* o = tanh(x1*w1 + x2*w2 + b); the three inner results are left unnamed, so
 * they print as %k. One statement per op: the order of recording is part
 * of the expected text. */
static neuron neuron_new(void) {
  neuron m;
  m.tp = tg_tape_new();
  ck_assert_ptr_nonnull(m.tp);
  m.x1 = named_leaf(m.tp, "x1", 2.0);
  m.w1 = named_leaf(m.tp, "w1", -3.0);
  m.x2 = named_leaf(m.tp, "x2", 0.0);
  m.w2 = named_leaf(m.tp, "w2", 1.0);
  m.b = named_leaf(m.tp, "b", 6.8813735870195432);
  tg_tensor *p1 = tg_mul(m.tp, m.x1, m.w1);
  tg_tensor *p2 = tg_mul(m.tp, m.x2, m.w2);
  tg_tensor *s = tg_add(m.tp, p1, p2);
  m.n = tg_set_name(tg_add(m.tp, s, m.b), "n");
  m.o = tg_set_name(tg_tanh(m.tp, m.n), "o");
  ck_assert_ptr_nonnull(m.o);
  ck_assert_int_eq(tg_error(m.tp), TG_OK);
  return m;
}

static const char NEURON_TAPE[] = "%0 = leaf \"x1\" [] f64, requires grad\n"
                                  "%1 = leaf \"w1\" [] f64, requires grad\n"
                                  "%2 = mul(x1 [] f64, w1 [] f64) -> []\n"
                                  "%3 = leaf \"x2\" [] f64, requires grad\n"
                                  "%4 = leaf \"w2\" [] f64, requires grad\n"
                                  "%5 = mul(x2 [] f64, w2 [] f64) -> []\n"
                                  "%6 = add(%2 [] f64, %5 [] f64) -> []\n"
                                  "%7 = leaf \"b\" [] f64, requires grad\n"
                                  "%8 = add(%6 [] f64, b [] f64) -> [] \"n\"\n"
                                  "%9 = tanh(n [] f64) -> [] \"o\"\n";

static const char NEURON_TAPE_VALUES[] =
    "%0 = leaf \"x1\" [] f64, requires grad  = [2.0000]\n"
    "%1 = leaf \"w1\" [] f64, requires grad  = [-3.0000]\n"
    "%2 = mul(x1 [] f64, w1 [] f64) -> []  = [-6.0000]\n"
    "%3 = leaf \"x2\" [] f64, requires grad  = [0.0000]\n"
    "%4 = leaf \"w2\" [] f64, requires grad  = [1.0000]\n"
    "%5 = mul(x2 [] f64, w2 [] f64) -> []  = [0.0000]\n"
    "%6 = add(%2 [] f64, %5 [] f64) -> []  = [-6.0000]\n"
    "%7 = leaf \"b\" [] f64, requires grad  = [6.8814]\n"
    "%8 = add(%6 [] f64, b [] f64) -> [] \"n\"  = [0.8814]\n"
    "%9 = tanh(n [] f64) -> [] \"o\"  = [0.7071]\n";

/* Leaves that require a gradient are blue; x1, w1, x2, w2 are also read by
 * mul's rule, hence the orange border; b is not (add needs only shapes);
 * o is read by tanh's rule (orange). No gradient yet: "grad -". */
static const char NEURON_DOT[] =
    "digraph tape {\n"
    "  rankdir=LR;\n"
    "  node [fontname=\"Helvetica\", fontsize=11];\n"
    "  t0 [shape=record, style=filled, fillcolor=\"#cfe8ff\", "
    "color=\"#e8590c\", penwidth=2, label=\"{ x1 | [] f64 | data "
    "\\[2.0000\\] | grad - }\"];\n"
    "  t1 [shape=record, style=filled, fillcolor=\"#cfe8ff\", "
    "color=\"#e8590c\", penwidth=2, label=\"{ w1 | [] f64 | data "
    "\\[-3.0000\\] | grad - }\"];\n"
    "  t2 [shape=record, style=filled, fillcolor=\"white\", label=\"{ %2 | "
    "[] f64 | data \\[-6.0000\\] | grad - }\"];\n"
    "  op2 [label=\"mul\", shape=ellipse];\n"
    "  t0 -> op2;\n"
    "  t1 -> op2;\n"
    "  op2 -> t2;\n"
    "  t3 [shape=record, style=filled, fillcolor=\"#cfe8ff\", "
    "color=\"#e8590c\", penwidth=2, label=\"{ x2 | [] f64 | data "
    "\\[0.0000\\] | grad - }\"];\n"
    "  t4 [shape=record, style=filled, fillcolor=\"#cfe8ff\", "
    "color=\"#e8590c\", penwidth=2, label=\"{ w2 | [] f64 | data "
    "\\[1.0000\\] | grad - }\"];\n"
    "  t5 [shape=record, style=filled, fillcolor=\"white\", label=\"{ %5 | "
    "[] f64 | data \\[0.0000\\] | grad - }\"];\n"
    "  op5 [label=\"mul\", shape=ellipse];\n"
    "  t3 -> op5;\n"
    "  t4 -> op5;\n"
    "  op5 -> t5;\n"
    "  t6 [shape=record, style=filled, fillcolor=\"white\", label=\"{ %6 | "
    "[] f64 | data \\[-6.0000\\] | grad - }\"];\n"
    "  op6 [label=\"add\", shape=ellipse];\n"
    "  t2 -> op6;\n"
    "  t5 -> op6;\n"
    "  op6 -> t6;\n"
    "  t7 [shape=record, style=filled, fillcolor=\"#cfe8ff\", label=\"{ b | "
    "[] f64 | data \\[6.8814\\] | grad - }\"];\n"
    "  t8 [shape=record, style=filled, fillcolor=\"white\", label=\"{ n | "
    "[] f64 | data \\[0.8814\\] | grad - }\"];\n"
    "  op8 [label=\"add\", shape=ellipse];\n"
    "  t6 -> op8;\n"
    "  t7 -> op8;\n"
    "  op8 -> t8;\n"
    "  t9 [shape=record, style=filled, fillcolor=\"#ffd8a8\", label=\"{ o | "
    "[] f64 | data \\[0.7071\\] | grad - }\"];\n"
    "  op9 [label=\"tanh\", shape=ellipse];\n"
    "  t8 -> op9;\n"
    "  op9 -> t9;\n"
    "  subgraph cluster_legend {\n"
    "    label=\"legend\"; fontsize=10;\n"
    "    l1 [shape=box, style=filled, fillcolor=\"#cfe8ff\", label=\"leaf "
    "that requires a gradient\"];\n"
    "    l2 [shape=box, style=filled, fillcolor=\"#ffd8a8\", label=\"saved "
    "for backward\"];\n"
    "  }\n"
    "}\n";

/* mul reads both inputs, add nothing, tanh its output; each scalar f64 is
 * 8 bytes, and the five saved tensors are all different. The arena's total
 * follows (it depends on the arena's layout, so it is checked apart). */
static const char NEURON_SAVED[] =
    "what backward keeps, node by node:\n"
    "  %2 mul: x1 (input, 8 bytes), w1 (input, 8 bytes) = 16 bytes\n"
    "  %5 mul: x2 (input, 8 bytes), w2 (input, 8 bytes) = 16 bytes\n"
    "  %6 add: nothing (the rule needs only shapes) = 0 bytes\n"
    "  %8 add: nothing (the rule needs only shapes) = 0 bytes\n"
    "  %9 tanh: o (its output, 8 bytes) = 8 bytes\n"
    "totals: 5 nodes, 10 tensors on the tape, 40 bytes saved for backward, "
    "40 bytes of node outputs, ";

/* do/dn = 1 - tanh^2(n) = 1/2 (b was chosen for it); then each product
 * sends 1/2 times the other factor. */
static const char NEURON_TRACE[] =
    "reverse sweep, from the last node to the first:\n"
    "o = tanh(n)\n"
    "  incoming gradient dL/do = [1.0000]\n"
    "  rule: d(tanh x)/dx = 1 - tanh^2 x, from the output\n"
    "  to n = [0.5000]\n"
    "n = add(%6, b)\n"
    "  incoming gradient dL/dn = [0.5000]\n"
    "  rule: d(a+b)/da = 1, d(a+b)/db = 1\n"
    "  to %6 = [0.5000]\n"
    "  to b = [0.5000]\n"
    "%6 = add(%2, %5)\n"
    "  incoming gradient dL/d%6 = [0.5000]\n"
    "  rule: d(a+b)/da = 1, d(a+b)/db = 1\n"
    "  to %2 = [0.5000]\n"
    "  to %5 = [0.5000]\n"
    "%5 = mul(x2, w2)\n"
    "  incoming gradient dL/d%5 = [0.5000]\n"
    "  rule: d(a*b)/da = b, d(a*b)/db = a\n"
    "  to x2 = [0.5000]\n"
    "  to w2 = [0.0000]\n"
    "%2 = mul(x1, w1)\n"
    "  incoming gradient dL/d%2 = [0.5000]\n"
    "  rule: d(a*b)/da = b, d(a*b)/db = a\n"
    "  to x1 = [-1.5000]\n"
    "  to w1 = [1.0000]\n"
    "end of the sweep\n";

START_TEST(test_print_tape_without_values) {
  neuron m = neuron_new();
  capture c;
  capture_begin(&c);
  tg_print_tape(c.f, m.tp, false);
  char *text = capture_end(&c);
  assert_text(text, NEURON_TAPE);
  free(text);
  tg_tape_free(m.tp);
}
END_TEST

START_TEST(test_print_tape_with_values) {
  neuron m = neuron_new();
  capture c;
  capture_begin(&c);
  tg_print_tape(c.f, m.tp, true);
  char *text = capture_end(&c);
  assert_text(text, NEURON_TAPE_VALUES);
  free(text);
  tg_tape_free(m.tp);
}
END_TEST

START_TEST(test_print_tape_marks_heap_parameters) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *p = tg_tensor_new(tp, TG_F64, 1, (int64_t[]){2});
  tg_set_name(tg_set_requires_grad(p, true), "p");
  tg_tensor *y = tg_sum_all(tp, p);
  ck_assert_ptr_nonnull(y);
  capture c;
  capture_begin(&c);
  tg_print_tape(c.f, tp, true);
  char *text = capture_end(&c);
  assert_text(text, "%0 = leaf \"p\" [2] f64, requires grad, parameter (heap)"
                    "  = [0.0000, 0.0000]\n"
                    "%1 = sum(p [2] f64) -> []  = [0.0000]\n");
  free(text);
  tg_tape_free(tp);
  tg_tensor_free(p);
}
END_TEST

START_TEST(test_write_dot_before_backward) {
  neuron m = neuron_new();
  capture c;
  capture_begin(&c);
  ck_assert_int_eq(tg_write_dot(c.f, m.tp, m.o), TG_OK);
  char *text = capture_end(&c);
  assert_text(text, NEURON_DOT);
  free(text);
  /* Every node is an ancestor of o, so the whole tape draws the same. */
  capture_begin(&c);
  ck_assert_int_eq(tg_write_dot(c.f, m.tp, NULL), TG_OK);
  text = capture_end(&c);
  assert_text(text, NEURON_DOT);
  free(text);
  tg_tape_free(m.tp);
}
END_TEST

START_TEST(test_write_dot_shows_gradients_after_backward) {
  neuron m = neuron_new();
  ck_assert_int_eq(tg_backward(m.tp, m.o), TG_OK);
  capture c;
  capture_begin(&c);
  ck_assert_int_eq(tg_write_dot(c.f, m.tp, m.o), TG_OK);
  char *text = capture_end(&c);
  const char *leaves[] = {
      "{ x1 | [] f64 | data \\[2.0000\\] | grad \\[-1.5000\\] }",
      "{ w1 | [] f64 | data \\[-3.0000\\] | grad \\[1.0000\\] }",
      "{ x2 | [] f64 | data \\[0.0000\\] | grad \\[0.5000\\] }",
      "{ w2 | [] f64 | data \\[1.0000\\] | grad \\[0.0000\\] }",
      "{ b | [] f64 | data \\[6.8814\\] | grad \\[0.5000\\] }",
      /* intermediates keep no gradient unless tg_retain_grad asked */
      "{ n | [] f64 | data \\[0.8814\\] | grad - }",
      "{ o | [] f64 | data \\[0.7071\\] | grad - }",
  };
  for (size_t i = 0; i < sizeof leaves / sizeof *leaves; i++)
    ck_assert_msg(strstr(text, leaves[i]), "missing %s in\n%s", leaves[i],
                  text);
  free(text);
  tg_tape_free(m.tp);
}
END_TEST

START_TEST(test_write_dot_draws_only_the_ancestors_of_y) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *a = named_leaf(tp, "a", 1.5);
  tg_tensor *c = named_leaf(tp, "c", 0.25);
  tg_tensor *stray = tg_set_name(tg_exp(tp, c), "stray"); /* not used by y */
  tg_tensor *y = tg_set_name(tg_sin(tp, a), "y");
  tg_tensor *z = tg_set_name(tg_mul(tp, y, stray), "z");
  ck_assert_ptr_nonnull(z);

  capture cap;
  capture_begin(&cap);
  ck_assert_int_eq(tg_write_dot(cap.f, tp, y), TG_OK);
  char *text = capture_end(&cap);
  ck_assert_ptr_nonnull(strstr(text, "{ a | [] f64"));
  ck_assert_ptr_nonnull(strstr(text, "{ y | [] f64"));
  ck_assert_ptr_nonnull(strstr(text, "[label=\"sin\""));
  ck_assert_ptr_null(strstr(text, "{ c |"));
  ck_assert_ptr_null(strstr(text, "stray"));
  ck_assert_ptr_null(strstr(text, "[label=\"exp\""));
  ck_assert_ptr_null(strstr(text, "{ z |"));
  ck_assert_ptr_null(strstr(text, "[label=\"mul\""));
  free(text);

  /* NULL draws every node. */
  capture_begin(&cap);
  ck_assert_int_eq(tg_write_dot(cap.f, tp, NULL), TG_OK);
  text = capture_end(&cap);
  ck_assert_ptr_nonnull(strstr(text, "{ c | [] f64"));
  ck_assert_ptr_nonnull(strstr(text, "{ stray | [] f64"));
  ck_assert_ptr_nonnull(strstr(text, "{ z | [] f64"));
  ck_assert_ptr_nonnull(strstr(text, "[label=\"exp\""));
  free(text);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_write_dot_escapes_names) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = named_leaf(tp, "x{1}", 3.0);
  tg_tensor *y = tg_set_name(tg_neg(tp, x), "a<b> | \"q\"");
  ck_assert_ptr_nonnull(y);
  capture c;
  capture_begin(&c);
  ck_assert_int_eq(tg_write_dot(c.f, tp, y), TG_OK);
  char *text = capture_end(&c);
  ck_assert_ptr_nonnull(strstr(text, "label=\"{ x\\{1\\} | [] f64"));
  ck_assert_ptr_nonnull(
      strstr(text, "label=\"{ a\\<b\\> \\| \\\"q\\\" | [] f64"));
  free(text);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_write_dot_refuses_null) {
  tg_tape *tp = tg_tape_new();
  ck_assert_int_eq(tg_write_dot(NULL, tp, NULL), TG_ERR_NULL);
  ck_assert_int_eq(tg_write_dot(stdout, NULL, NULL), TG_ERR_NULL);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_print_saved) {
  neuron m = neuron_new();
  capture c;
  capture_begin(&c);
  tg_print_saved(c.f, m.tp);
  char *text = capture_end(&c);
  size_t n = strlen(NEURON_SAVED);
  ck_assert_msg(strncmp(text, NEURON_SAVED, n) == 0, "got:\n%s\nwant:\n%s",
                text, NEURON_SAVED);
  char tail[96];
  snprintf(tail, sizeof tail, "%zu bytes of arena in use\n",
           tg_tape_bytes(m.tp));
  assert_text(text + n, tail);
  ck_assert_ptr_nonnull(strstr(text, "o (its output, 8 bytes)"));
  free(text);
  tg_tape_free(m.tp);
}
END_TEST

START_TEST(test_trace_text) {
  neuron m = neuron_new();
  capture c;
  capture_begin(&c);
  tg_set_trace(m.tp, c.f);
  ck_assert_int_eq(tg_backward(m.tp, m.o), TG_OK);
  tg_set_trace(m.tp, NULL);
  char *text = capture_end(&c);
  assert_text(text, NEURON_TRACE);
  free(text);
  tg_tape_free(m.tp);
}
END_TEST

/* Adds up every "  to NAME = [v]" and "  to NAME += [v]" line of a trace
 * of scalars for the given name. */
static double traced_total(const char *trace, const char *name, int *lines) {
  double total = 0;
  *lines = 0;
  char key[64];
  snprintf(key, sizeof key, "\n  to %s ", name);
  for (const char *p = strstr(trace, key); p; p = strstr(p + 1, key)) {
    const char *v = p + strlen(key);
    if (strncmp(v, "+= [", 4) == 0)
      v += 4;
    else if (strncmp(v, "= [", 3) == 0)
      v += 3;
    else
      continue;
    total += strtod(v, NULL);
    (*lines)++;
  }
  return total;
}

START_TEST(test_trace_values_match_backward) {
  neuron m = neuron_new();
  capture c;
  capture_begin(&c);
  tg_set_trace(m.tp, c.f);
  ck_assert_int_eq(tg_backward(m.tp, m.o), TG_OK);
  tg_set_trace(m.tp, NULL);
  char *text = capture_end(&c);
  const char *names[] = {"x1", "w1", "x2", "w2", "b"};
  tg_tensor *leaves[] = {m.x1, m.w1, m.x2, m.w2, m.b};
  for (int i = 0; i < 5; i++) {
    int lines;
    double traced = traced_total(text, names[i], &lines);
    ck_assert_int_eq(lines, 1);
    /* printed with four decimals */
    ck_assert_double_eq_tol(traced, tg_item(tg_grad_of(leaves[i])), 5e-5);
  }
  free(text);
  tg_tape_free(m.tp);
}
END_TEST

START_TEST(test_trace_marks_accumulation) {
  /* z = x*x + x at x = 3: the add sends x its first share (=), then both
   * uses in the product add to it (+=): 1 + 3 + 3 = 7 = 2x + 1. */
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = named_leaf(tp, "x", 3.0);
  tg_tensor *y = tg_mul(tp, x, x);
  tg_tensor *z = tg_set_name(tg_add(tp, y, x), "z");
  capture c;
  capture_begin(&c);
  tg_set_trace(tp, c.f);
  ck_assert_int_eq(tg_backward(tp, z), TG_OK);
  tg_set_trace(tp, NULL);
  char *text = capture_end(&c);
  assert_text(text,
              "reverse sweep, from the last node to the first:\n"
              "z = add(%1, x)\n"
              "  incoming gradient dL/dz = [1.0000]\n"
              "  rule: d(a+b)/da = 1, d(a+b)/db = 1\n"
              "  to %1 = [1.0000]\n"
              "  to x = [1.0000]\n"
              "%1 = mul(x, x)\n"
              "  incoming gradient dL/d%1 = [1.0000]\n"
              "  rule: d(a*b)/da = b, d(a*b)/db = a\n"
              "  to x += [3.0000]  (adds to the gradient it already had)\n"
              "  to x += [3.0000]  (adds to the gradient it already had)\n"
              "end of the sweep\n");
  int lines;
  ck_assert_double_eq_tol(traced_total(text, "x", &lines),
                          tg_item(tg_grad_of(x)), 1e-12);
  ck_assert_int_eq(lines, 3);
  ck_assert_double_eq_tol(tg_item(tg_grad_of(x)), 7.0, 1e-15);
  free(text);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_trace_marks_both_uses_in_one_node) {
  /* y = x*x alone: the second share adds to the first. */
  tg_tape *tp = tg_tape_new();
  tg_tensor *x = named_leaf(tp, "x", 3.0);
  tg_tensor *y = tg_set_name(tg_mul(tp, x, x), "y");
  capture c;
  capture_begin(&c);
  tg_set_trace(tp, c.f);
  ck_assert_int_eq(tg_backward(tp, y), TG_OK);
  tg_set_trace(tp, NULL);
  char *text = capture_end(&c);
  ck_assert_ptr_nonnull(strstr(text, "  to x = [3.0000]\n"
                                     "  to x += [3.0000]  (adds to the "
                                     "gradient it already had)\n"));
  ck_assert_double_eq_tol(tg_item(tg_grad_of(x)), 6.0, 1e-15);
  free(text);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_trace_notes_broadcast_sums) {
  tg_tape *tp = tg_tape_new();
  double av[4] = {1, 2, 3, 4}, bv[2] = {10, 20};
  tg_tensor *a =
      tg_set_name(tg_set_requires_grad(
                      tg_from_f64(tp, TG_F64, 2, (int64_t[]){2, 2}, av), true),
                  "a");
  tg_tensor *b =
      tg_set_name(tg_set_requires_grad(
                      tg_from_f64(tp, TG_F64, 1, (int64_t[]){2}, bv), true),
                  "b");
  tg_tensor *s = tg_set_name(tg_sum_all(tp, tg_mul(tp, a, b)), "s");
  capture c;
  capture_begin(&c);
  tg_set_trace(tp, c.f);
  ck_assert_int_eq(tg_backward(tp, s), TG_OK);
  tg_set_trace(tp, NULL);
  char *text = capture_end(&c);
  ck_assert_ptr_nonnull(strstr(text, "  to a = [10.0000, 20.0000, 10.0000, "
                                     "20.0000]\n"));
  ck_assert_ptr_nonnull(strstr(text, "  to b = [1.0000, 2.0000, 3.0000, "
                                     "4.0000]  (summed over broadcast axes "
                                     "on arrival)\n"));
  double gb[2];
  ck_assert_int_eq(tg_copy_out_f64(tg_grad_of(b), gb), TG_OK);
  ck_assert_double_eq(gb[0], 4.0); /* 1 + 3 */
  ck_assert_double_eq(gb[1], 6.0); /* 2 + 4 */
  free(text);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_trace_off_prints_nothing) {
  neuron m = neuron_new();
  capture c;
  capture_begin(&c);
  tg_set_trace(m.tp, c.f);
  tg_set_trace(m.tp, NULL);
  ck_assert_int_eq(tg_backward(m.tp, m.o), TG_OK);
  char *text = capture_end(&c);
  ck_assert_str_eq(text, "");
  free(text);
  tg_tape_free(m.tp);
}
END_TEST

/* --- tg_compare_grad ----------------------------------------------------- */

static bool compare(const char *label, const tg_tensor *t, int ndim,
                    const int64_t *shape, const double *mine, char **line) {
  capture c;
  capture_begin(&c);
  bool ok = tg_compare_grad(c.f, label, t, ndim, shape, mine);
  *line = capture_end(&c);
  return ok;
}

START_TEST(test_compare_grad_engine_values_are_exact) {
  neuron m = neuron_new();
  ck_assert_int_eq(tg_backward(m.tp, m.o), TG_OK);
  double mine = tg_item(tg_grad_of(m.x1));
  char *line;
  ck_assert(compare("dL/dx1", m.x1, 0, NULL, &mine, &line));
  assert_text(line, "dL/dx1       | exact: yes   | approximate: yes   | "
                    "largest difference: 0 | shapes agree\n");
  free(line);
  tg_tape_free(m.tp);
}
END_TEST

START_TEST(test_compare_grad_close_values_are_approximate) {
  neuron m = neuron_new();
  ck_assert_int_eq(tg_backward(m.tp, m.o), TG_OK);
  double mine = tg_item(tg_grad_of(m.w1)) + 1e-9; /* 1 + 1e-9 */
  char *line;
  ck_assert(compare("dL/dw1", m.w1, 0, NULL, &mine, &line));
  assert_text(line, "dL/dw1       | exact: no    | approximate: yes   | "
                    "largest difference: 1e-09 | shapes agree\n");
  free(line);
  tg_tape_free(m.tp);
}
END_TEST

START_TEST(test_compare_grad_wrong_values) {
  neuron m = neuron_new();
  ck_assert_int_eq(tg_backward(m.tp, m.o), TG_OK);
  double mine = 1.5; /* the classic sign error: the engine says -1.5 */
  char *line;
  ck_assert(!compare("dL/dx1", m.x1, 0, NULL, &mine, &line));
  assert_text(line, "dL/dx1       | exact: no    | approximate: no    | "
                    "largest difference: 3 | shapes agree\n");
  free(line);
  tg_tape_free(m.tp);
}
END_TEST

START_TEST(test_compare_grad_matrix) {
  tg_tape *tp = tg_tape_new();
  double wv[6] = {0.5, -1, 2, 0.25, -0.75, 1.5}, xv[3] = {1, 2, -1};
  tg_tensor *w = tg_set_requires_grad(
      tg_from_f64(tp, TG_F64, 2, (int64_t[]){2, 3}, wv), true);
  tg_tensor *x = tg_from_f64(tp, TG_F64, 2, (int64_t[]){3, 1}, xv);
  tg_tensor *loss = tg_sum_all(tp, tg_matmul(tp, w, x));
  ck_assert_int_eq(tg_backward(tp, loss), TG_OK);
  /* d sum(W x)/dW = 1 x^T: every row is x */
  double mine[6] = {1, 2, -1, 1, 2, -1};
  char *line;
  ck_assert(compare("dL/dW", w, 2, (int64_t[]){2, 3}, mine, &line));
  ck_assert_ptr_nonnull(strstr(line, "exact: yes"));
  free(line);
  /* the transposed answer has the right numbers in the wrong shape */
  ck_assert(!compare("dL/dW", w, 2, (int64_t[]){3, 2}, mine, &line));
  assert_text(line, "dL/dW        | shapes differ: yours [3x2], engine's "
                    "[2x3]\n");
  free(line);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_compare_grad_wrong_shape) {
  neuron m = neuron_new();
  ck_assert_int_eq(tg_backward(m.tp, m.o), TG_OK);
  double mine[2] = {-1.5, -1.5};
  char *line;
  ck_assert(!compare("dL/dx1", m.x1, 1, (int64_t[]){2}, mine, &line));
  assert_text(line, "dL/dx1       | shapes differ: yours [2], engine's []\n");
  free(line);
  tg_tape_free(m.tp);
}
END_TEST

START_TEST(test_compare_grad_before_backward) {
  neuron m = neuron_new();
  double mine = -1.5;
  char *line;
  ck_assert(!compare("dL/dx1", m.x1, 0, NULL, &mine, &line));
  assert_text(line, "dL/dx1       | no engine gradient (run backward "
                    "first) to compare\n");
  free(line);
  /* and without a buffer of one's own */
  ck_assert_int_eq(tg_backward(m.tp, m.o), TG_OK);
  ck_assert(!compare(NULL, m.x1, 0, NULL, NULL, &line));
  assert_text(line, "gradient     | no gradient of yours to compare\n");
  free(line);
  tg_tape_free(m.tp);
}
END_TEST

static Suite *viz_suite(void) {
  Suite *s = suite_create("viz");
  TCase *tc = tcase_create("text");
  tcase_add_test(tc, test_print_tape_without_values);
  tcase_add_test(tc, test_print_tape_with_values);
  tcase_add_test(tc, test_print_tape_marks_heap_parameters);
  tcase_add_test(tc, test_print_saved);
  suite_add_tcase(s, tc);
  tc = tcase_create("dot");
  tcase_add_test(tc, test_write_dot_before_backward);
  tcase_add_test(tc, test_write_dot_shows_gradients_after_backward);
  tcase_add_test(tc, test_write_dot_draws_only_the_ancestors_of_y);
  tcase_add_test(tc, test_write_dot_escapes_names);
  tcase_add_test(tc, test_write_dot_refuses_null);
  suite_add_tcase(s, tc);
  tc = tcase_create("trace");
  tcase_add_test(tc, test_trace_text);
  tcase_add_test(tc, test_trace_values_match_backward);
  tcase_add_test(tc, test_trace_marks_accumulation);
  tcase_add_test(tc, test_trace_marks_both_uses_in_one_node);
  tcase_add_test(tc, test_trace_notes_broadcast_sums);
  tcase_add_test(tc, test_trace_off_prints_nothing);
  suite_add_tcase(s, tc);
  tc = tcase_create("compare_grad");
  tcase_add_test(tc, test_compare_grad_engine_values_are_exact);
  tcase_add_test(tc, test_compare_grad_close_values_are_approximate);
  tcase_add_test(tc, test_compare_grad_wrong_values);
  tcase_add_test(tc, test_compare_grad_matrix);
  tcase_add_test(tc, test_compare_grad_wrong_shape);
  tcase_add_test(tc, test_compare_grad_before_backward);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tgt_run_suite(viz_suite()); }
