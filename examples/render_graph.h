/* Shared by the teaching examples: the tape as a Graphviz file, rendered
 * to SVG and PNG when `dot` is installed. */
#ifndef RENDER_GRAPH_H
#define RENDER_GRAPH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

/* Writes prefix.dot and renders it when Graphviz is installed. */
static inline bool render_graph(tg_tape *tp, const tg_tensor *y,
                                const char *prefix) {
  char path[512];
  snprintf(path, sizeof path, "%s.dot", prefix);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "cannot write %s\n", path);
    return false;
  }
  tg_status st = tg_write_dot(f, tp, y);
  if (fclose(f) != 0 || st != TG_OK) {
    fprintf(stderr, "cannot write %s\n", path);
    return false;
  }
  printf("graph written to %s\n", path);
  if (strchr(prefix, '\'')) return true; /* not quotable for the shell */
  /* Top to bottom reads better than tg_write_dot's left to right for a
   * chain this long: -Grankdir=TB overrides it when rendering. */
  char cmd[2200];
  snprintf(cmd, sizeof cmd,
           "command -v dot >/dev/null 2>&1 && "
           "dot -Grankdir=TB -Tsvg '%s.dot' -o '%s.svg' && "
           "dot -Grankdir=TB -Tpng '%s.dot' -o '%s.png'",
           prefix, prefix, prefix, prefix);
  if (system(cmd) == 0)
    printf("rendered %s.svg and %s.png with Graphviz\n", prefix, prefix);
  else
    printf("to render it: apt-get install graphviz, then dot -Tsvg %s.dot "
           "-o %s.svg\n",
           prefix, prefix);
  return true;
}

#endif
