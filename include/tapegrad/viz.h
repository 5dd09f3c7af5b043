/* tapegrad: seeing the tape.
 *
 * Print the recorded nodes, draw the graph (Graphviz DOT), trace the reverse
 * sweep step by step, report what backward keeps alive, and compare a
 * learner's hand-computed gradient with the engine's. For teaching and
 * debugging; none of it is needed to train. */
#ifndef TAPEGRAD_VIZ_H
#define TAPEGRAD_VIZ_H

#include <stdio.h>

#include "tensor.h"

/* Tensors with at most this many elements print their values. */
#define TG_VIZ_SMALL 16

/* One line per node in recording order:
 *   %7 = matmul(%3 [4x2] f64, %5 [2x1] f64) -> [4x1]
 * Leaves show as their names (or "leaf#k"); with values, small tensors'
 * values follow each line. */
void tg_print_tape(FILE *f, const tg_tape *tp, bool values);

/* The graph as Graphviz DOT: tensors as records (name, shape, and for
 * small tensors data and grad, a dash where no gradient was computed yet),
 * ops as ellipses; leaves that require a gradient and tensors saved for
 * backward get their own colours. Draws the part of the tape that y
 * depends on (every node when y is NULL). */
tg_status tg_write_dot(FILE *f, const tg_tape *tp, const tg_tensor *y);

/* While set, every backward sweep on tp (tg_backward, tg_grad) prints, node
 * by node from last to first, the incoming gradient, the local rule in
 * words and symbols, and the gradient sent to each input, marking with +=
 * where it adds to a gradient that input already had. NULL turns it off. */
void tg_set_trace(tg_tape *tp, FILE *f);

/* What backward keeps: per node, the tensors its rule will read and their
 * bytes; then totals (nodes, live tensors, saved bytes, arena bytes). */
void tg_print_saved(FILE *f, const tg_tape *tp);

/* Compares a learner's gradient (a row-major buffer of numel doubles for a
 * tensor of `shape`) with the engine's t->grad and prints one line: exact or
 * not, approximately equal (rtol 1e-5, atol 1e-8) or not, the largest
 * difference, shapes agree or not. Returns true when approximately equal. */
bool tg_compare_grad(FILE *f, const char *label, const tg_tensor *t, int ndim,
                     const int64_t *shape, const double *mine);

#endif
