/* Data-parallel training without MPI: tapegrad was built without it, so
 * this process is rank 0 of 1 and every call that would communicate fails
 * with TG_ERR_STATE. */
#include <stdio.h>

#include "dist_internal.h"

static char msg[160];

static tg_status no_mpi(const char *fname) {
  snprintf(msg, sizeof msg, "%s: tapegrad was built without MPI", fname);
  return TG_ERR_STATE;
}

bool tg_dist_available(void) { return false; }
bool tg__dist_ready(void) { return false; }
int tg_dist_rank(void) { return 0; }
int tg_dist_size(void) { return 1; }
const char *tg_dist_errmsg(void) { return msg; }

tg_status tg_dist_init(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return no_mpi("tg_dist_init");
}

tg_status tg_dist_finalize(void) { return TG_OK; }

tg_status tg__dist_broadcast(tg_params *ps, int root, bool buffers_only,
                             const char *fname) {
  (void)ps;
  (void)root;
  (void)buffers_only;
  return no_mpi(fname);
}

tg_status tg_dist_broadcast_params(tg_params *ps, int root) {
  return tg__dist_broadcast(ps, root, false, "tg_dist_broadcast_params");
}

tg_status tg__dist_broadcast_u64(uint64_t *value, int root, const char *fname) {
  (void)value;
  (void)root;
  return no_mpi(fname);
}

tg_status tg__dist_average(tg_params *ps, const char *fname, int *failed) {
  (void)ps;
  (void)failed;
  return no_mpi(fname);
}

tg_status tg_dist_average_grads(tg_params *ps) {
  return tg__dist_average(ps, "tg_dist_average_grads", NULL);
}

tg_status tg_dist_sum(double *values, int n) {
  (void)values;
  (void)n;
  return no_mpi("tg_dist_sum");
}
