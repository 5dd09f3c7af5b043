/* A training history drawn as SVG: loss curves on the left, the accuracy
 * (or the MAE) on the right, one line per series, written atomically. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "model_internal.h"

enum { PANEL_W = 420, PANEL_H = 300, MARGIN = 50 };

typedef struct series {
  const char *label;
  const double *v;
  const char *colour;
} series;

static bool any_finite(const double *v, int n) {
  for (int i = 0; i < n; i++)
    if (isfinite(v[i])) return true;
  return false;
}

static void panel(FILE *f, int x0, const char *title, const series *s,
                  int n_series, int epochs) {
  double lo = INFINITY, hi = -INFINITY;
  for (int k = 0; k < n_series; k++)
    for (int e = 0; e < epochs; e++)
      if (isfinite(s[k].v[e])) {
        lo = fmin(lo, s[k].v[e]);
        hi = fmax(hi, s[k].v[e]);
      }
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  int w = PANEL_W - 2 * MARGIN, h = PANEL_H - 2 * MARGIN;
  fprintf(f, "<g transform='translate(%d,0)'>\n", x0);
  fprintf(f,
          "<text x='%d' y='24' font-size='15' text-anchor='middle'>%s"
          "</text>\n",
          PANEL_W / 2, title);
  fprintf(f,
          "<rect x='%d' y='%d' width='%d' height='%d' fill='none' "
          "stroke='#888'/>\n",
          MARGIN, MARGIN, w, h);
  fprintf(f,
          "<text x='%d' y='%d' font-size='11' text-anchor='end'>%.4g"
          "</text>\n",
          MARGIN - 4, MARGIN + 4, hi);
  fprintf(f,
          "<text x='%d' y='%d' font-size='11' text-anchor='end'>%.4g"
          "</text>\n",
          MARGIN - 4, MARGIN + h, lo);
  fprintf(f,
          "<text x='%d' y='%d' font-size='11' text-anchor='middle'>epoch "
          "(1 to %d)</text>\n",
          MARGIN + w / 2, MARGIN + h + 20, epochs);
  for (int k = 0; k < n_series; k++) {
    if (!any_finite(s[k].v, epochs)) continue;
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='",
            s[k].colour);
    for (int e = 0; e < epochs; e++) {
      if (!isfinite(s[k].v[e])) continue;
      double px =
          MARGIN + (epochs > 1 ? (double)w * e / (epochs - 1) : w / 2.0);
      double py = MARGIN + h * (hi - s[k].v[e]) / (hi - lo);
      fprintf(f, "%.1f,%.1f ", px, py);
    }
    fprintf(f, "'/>\n<text x='%d' y='%d' font-size='12' fill='%s'>%s</text>\n",
            MARGIN + 8, MARGIN + 16 + 16 * k, s[k].colour, s[k].label);
  }
  fprintf(f, "</g>\n");
}

tg_status tg_history_write_svg(const tg_history *h, const char *path) {
  if (!h || !path || h->epochs < 1) return TG_ERR_ARG;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) return TG_ERR_STATE;
  int n = h->epochs;
  bool acc = any_finite(h->accuracy, n);
  fprintf(f,
          "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
          "font-family='sans-serif'>\n<rect width='100%%' height='100%%' "
          "fill='white'/>\n",
          2 * PANEL_W, PANEL_H);
  series loss[2] = {{"loss", h->loss, "#1f77b4"},
                    {"val_loss", h->val_loss, "#ff7f0e"}};
  panel(f, 0, "loss", loss, 2, n);
  series metric[2] = {
      {acc ? "accuracy" : "mae", acc ? h->accuracy : h->mae, "#2ca02c"},
      {acc ? "val_accuracy" : "val_mae", acc ? h->val_accuracy : h->val_mae,
       "#d62728"}};
  panel(f, PANEL_W, acc ? "accuracy" : "mean absolute error", metric, 2, n);
  fprintf(f, "</svg>\n");
  bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    remove(tmp);
    return TG_ERR_STATE;
  }
  return TG_OK;
}
