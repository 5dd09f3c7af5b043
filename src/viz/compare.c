/* A learner's gradient beside the engine's, in one line. */
#include <math.h>

#include "viz_internal.h"

bool tg_compare_grad(FILE *f, const char *label, const tg_tensor *t, int ndim,
                     const int64_t *shape, const double *mine) {
  const char *what = label ? label : "gradient";
  const tg_tensor *g = t ? t->grad : NULL;
  if (!f) f = stdout;
  if (!g || !mine || (ndim > 0 && !shape)) {
    fprintf(f, "%-12s | no %s to compare\n", what,
            !g ? "engine gradient (run backward first)" : "gradient of yours");
    return false;
  }
  bool shapes = ndim == g->ndim;
  for (int d = 0; shapes && d < ndim; d++)
    shapes = shape[d] == g->shape[d];
  if (!shapes) {
    char a[96], b[96];
    fprintf(f, "%-12s | shapes differ: yours %s, engine's %s\n", what,
            tg__shape_fmt(ndim, shape, a, sizeof a),
            tg_shape_str(g, b, sizeof b));
    return false;
  }
  bool exact = true, close = true;
  double worst = 0;
  for (int64_t i = 0; i < g->numel; i++) {
    double e = tg_get_flat(g, i), d = fabs(e - mine[i]);
    if (e != mine[i]) exact = false;
    /* NaN is never close; equal infinities are */
    if (e != mine[i] && !(d <= 1e-8 + 1e-5 * fabs(e))) close = false;
    if (d > worst || d != d) worst = d;
  }
  fprintf(f,
          "%-12s | exact: %-5s | approximate: %-5s | largest difference: "
          "%.3g | shapes agree\n",
          what, exact ? "yes" : "no", close ? "yes" : "no", worst);
  return close;
}
